"""End to end in headless Chromium: move a slider, see the image change, dream, take a screenshot.

Chromium is driven through chromedriver's W3C WebDriver HTTP API with urllib (no selenium).
Needs the Debian packages ``chromium`` and ``chromium-driver``; without them the test skips
locally and fails under CI (``CI`` set), where it must run.

Environment:
    PLAUSIBLE_EXPLORE_RUN: explore this run folder instead of an untrained test run (e.g. the
        demo run, ``runs/vae-digits``, to refresh the documentation's screenshot).
    PLAUSIBLE_EXPLORE_SCREENSHOT: also save the screenshot here (``docs/images/explorer.png``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plausible.explore import explorer_for_run, make_explorer, make_server
from plausible.runs import load_run

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver element key
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1440,900",
    "--force-device-scale-factor=1",
]


def _find_browser() -> tuple[str, str]:
    chromium = next(
        (
            p
            for name in ("chromium", "chromium-browser", "google-chrome")
            if (p := shutil.which(name))
        ),
        None,
    )
    driver = shutil.which("chromedriver")
    missing = [
        what for what, path in (("chromium", chromium), ("chromedriver", driver)) if not path
    ]
    if missing:
        reason = (
            f"{' and '.join(missing)} not found: install the Debian packages chromium and "
            "chromium-driver (apt-get install -y chromium chromium-driver) to run the "
            "browser test"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test, but {reason}")
        pytest.skip(reason)
    assert chromium is not None and driver is not None
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebDriver:
    """The few W3C WebDriver commands the test needs, over plain HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = ""

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        prefix = (
            f"/session/{self.session}" if self.session and not path.startswith("/session") else ""
        )
        request = urllib.request.Request(
            self.url + prefix + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")
            raise AssertionError(
                f"WebDriver {method} {path} failed: {err.code} {detail[:500]}"
            ) from None

    def start(self, chromium: str, profile: Path) -> None:
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": [*CHROMIUM_ARGS, f"--user-data-dir={profile}"],
                    },
                }
            }
        }
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def find(self, css: str) -> dict[str, str]:
        return self.call("POST", "/element", {"using": "css selector", "value": css})

    def script(self, source: str, *args: Any) -> Any:
        return self.call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def click(self, css: str) -> None:
        self.call("POST", f"/element/{self.find(css)[ELEMENT]}/click", {})

    def drag(self, css: str, dx: int) -> None:
        """Press the mouse at the element's centre and move it ``dx`` pixels to the right."""
        element = self.find(css)
        self.call(
            "POST",
            "/actions",
            {
                "actions": [
                    {
                        "type": "pointer",
                        "id": "mouse",
                        "parameters": {"pointerType": "mouse"},
                        "actions": [
                            {"type": "pointerMove", "origin": element, "x": 0, "y": 0},
                            {"type": "pointerDown", "button": 0},
                            {
                                "type": "pointerMove",
                                "origin": "pointer",
                                "x": dx // 2,
                                "y": 0,
                                "duration": 150,
                            },
                            {
                                "type": "pointerMove",
                                "origin": "pointer",
                                "x": dx - dx // 2,
                                "y": 0,
                                "duration": 150,
                            },
                            {"type": "pointerUp", "button": 0},
                        ],
                    }
                ]
            },
        )
        self.call("DELETE", "/actions")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("GET", "/screenshot"))

    def wait(self, what: str, condition: Callable[[], Any], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.05)
        errors = self.script("return document.getElementById('error').textContent")
        raise AssertionError(
            f"timed out after {timeout:g} s waiting for {what}; page error: {errors!r}"
        )


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    chromium, driver_path = _find_browser()
    port = _free_port()
    log = (tmp_path / "chromedriver.log").open("w")
    proc = subprocess.Popen([driver_path, f"--port={port}"], stdout=log, stderr=subprocess.STDOUT)
    driver = WebDriver(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if driver.call("GET", "/status").get("ready"):
                    break
            except (urllib.error.URLError, ConnectionError, AssertionError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"chromedriver did not start; log: {tmp_path / 'chromedriver.log'}"
                )
            time.sleep(0.1)
        driver.start(chromium, tmp_path / "profile")
        yield driver
    finally:
        if driver.session:
            with contextlib.suppress(AssertionError, urllib.error.URLError, OSError):
                driver.call("DELETE", "")
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def explorer_url(vae_run: Path) -> Iterator[str]:
    run = Path(os.environ.get("PLAUSIBLE_EXPLORE_RUN") or vae_run)
    server = make_server(explorer_for_run(load_run(run)), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _serving(explorer: Any) -> Iterator[str]:
    server = make_server(explorer, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


def _open(driver: WebDriver, url: str) -> dict[str, Any]:
    driver.call("POST", "/url", {"url": url})
    driver.wait(
        "the page to load the model",
        lambda: driver.script("return document.body.dataset.ready === 'true'"),
    )
    return driver.script("return state.info")


def _ticks(driver: WebDriver, canvas: str, axis: str) -> list[float]:
    text = driver.script(f"return document.getElementById('{canvas}').dataset.{axis}Ticks || ''")
    return [float(t) for t in text.split(",") if t]


def test_cvae_and_mdn_pages_in_chromium(
    browser: WebDriver, class_cvae: Any, class_data: Any, mdn: Any, density_data: Any
) -> None:
    driver = browser
    # A CVAE orders its sliders by the KL to its own prior p(z|x), and says so.
    with _serving(make_explorer(class_cvae, class_data)) as url:
        info = _open(driver, url)
        hint = driver.script("return document.getElementById('slider-hint').textContent")
        assert (
            hint
            == "ordered by KL(q(z|x,y) ‖ p(z|x)), nats"
            == f"ordered by {info['kl_divergence']}, nats"
        )
        driver.click("#from-data")
        driver.wait(
            "the encoded truth",
            lambda: driver.script("return !document.getElementById('input-inset').hidden"),
        )
        assert (
            driver.script("return document.getElementById('input-caption').textContent") == "truth"
        )
        # A new condition makes the note about the previous one stale: it goes.
        driver.click("#example-next")
        driver.wait(
            "the note to go with the old condition",
            lambda: driver.script("return document.getElementById('input-inset').hidden"),
        )
        assert driver.script("return document.getElementById('error').hidden") is True

    # An MDN's density plots carry y values on their vertical axes, inside the plotted range.
    with _serving(make_explorer(mdn, density_data(1, 1))) as url:
        info = _open(driver, url)
        driver.wait(
            "the density curve",
            lambda: driver.script("return !!document.getElementById('curve').dataset.yTicks"),
        )
        low, high = info["y_range"][0]
        for canvas in ("curve", "joint"):
            ticks = _ticks(driver, canvas, "y")
            assert len(ticks) >= 3, f"{canvas}: y ticks {ticks}"
            assert all(low <= t <= high for t in ticks), f"{canvas}: {ticks} outside {low, high}"
            steps = np.diff(ticks)
            np.testing.assert_allclose(steps, steps[0], rtol=1e-6)
        density = _ticks(driver, "curve", "x")  # the density axis starts at 0
        assert density[0] == 0 and len(density) >= 3
        assert driver.script("return document.getElementById('error').hidden") is True


def _image(driver: WebDriver) -> str:
    return driver.script("return document.getElementById('output').src") or ""


def test_explorer_in_chromium(browser: WebDriver, explorer_url: str) -> None:
    driver = browser
    driver.call("POST", "/url", {"url": explorer_url})
    driver.wait(
        "the page to load the model",
        lambda: driver.script("return document.body.dataset.ready === 'true'"),
    )
    first = driver.wait(
        "the first decoded image",
        lambda: _image(driver).startswith("data:image/png") and _image(driver),
    )
    info = driver.script("return state.info")
    assert info["kind"] == "latent"
    top = info["order"][0]
    hint = driver.script("return document.getElementById('slider-hint').textContent")
    assert hint == "ordered by KL(q(z|x) ‖ p(z)), nats"

    # Move the most informative slider with the mouse: its value and the image change.
    driver.drag(f"#z-{top}", 120)
    value = float(driver.script(f"return document.getElementById('z-{top}').value"))
    assert value > 0.5, f"dragging the slider moved it to {value}"
    moved = driver.wait(
        "the image to change after the slider moved",
        lambda: _image(driver) != first and _image(driver),
    )
    latency = float(
        driver.wait(
            "a measured round trip",
            lambda: driver.script("return document.getElementById('status').dataset.latency"),
        )
    )
    assert latency > 0

    # Dream: the state is visible, the latent values wander and the image keeps changing.
    driver.click("#dream")
    assert driver.script("return document.body.dataset.dreaming") == "true"
    assert (
        driver.script("return document.getElementById('dream').getAttribute('aria-pressed')")
        == "true"
    )
    seen = {moved}
    driver.wait(
        "three new images while dreaming",
        lambda: seen.add(_image(driver)) or len(seen) >= 4,
        timeout=30,
    )
    u = driver.script("return state.u")
    assert len(u) == info["latent_dim"] and all(abs(v) <= info["slider_range"] for v in u)
    png = driver.screenshot()
    assert png.startswith(b"\x89PNG")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "explorer.png").write_bytes(png)
    if target := os.environ.get("PLAUSIBLE_EXPLORE_SCREENSHOT"):
        time.sleep(4)  # let the dream draw its trail on the pad
        Path(target).write_bytes(driver.screenshot())
    driver.click("#dream")
    assert driver.script("return document.body.dataset.dreaming") == "false"

    # Dimensions beyond the first ten come from the selector.
    sliders = driver.script("return document.querySelectorAll('#sliders input').length")
    assert sliders == min(10, info["latent_dim"])
    if info["latent_dim"] > 10:
        driver.script(
            "const s = document.getElementById('more'); s.value = 'all';"
            "s.dispatchEvent(new Event('change'));"
        )
        count = "return document.querySelectorAll('#sliders input').length"
        assert driver.script(count) == info["latent_dim"]

    # From data shows the encoded example beside the decoded output, never over it.
    driver.click("#from-data")
    driver.wait(
        "the encoded test example",
        lambda: driver.script("return !document.getElementById('input-inset').hidden"),
    )
    assert driver.script("return document.getElementById('input-note').textContent")
    inset, output = (
        driver.script(
            f"const r = document.getElementById('{i}').getBoundingClientRect();"
            "return [r.left, r.top, r.right, r.bottom]"
        )
        for i in ("input-inset", "output-frame")
    )
    overlap_x = min(inset[2], output[2]) - max(inset[0], output[0])
    overlap_y = min(inset[3], output[3]) - max(inset[1], output[1])
    assert overlap_x <= 0 or overlap_y <= 0, f"the inset {inset} covers the output {output}"

    # Dreaming moves z away from that example: its caption and inset go, none left stale.
    driver.click("#dream")
    assert driver.script("return document.getElementById('input-note').textContent") == ""
    assert driver.script("return document.getElementById('input-inset').hidden") is True
    driver.click("#dream")

    # The other buttons answer too, and the page never showed an error.
    driver.click("#sample")
    driver.wait("a prior sample", lambda: driver.script("return state.u.some((v) => v !== 0)"))
    driver.click("#reset")
    driver.wait("the reset", lambda: driver.script("return state.u.every((v) => v === 0)"))
    assert driver.script("return document.getElementById('error').hidden") is True
