"""``plausible explore RUN``: starts, prints its URL, answers, and stops on Ctrl+C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# The command on its own, so the test does not depend on the rest of the CLI.
_RUN_COMMAND = "import typer; from plausible.cli.explore import explore; typer.run(explore)"


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", _RUN_COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_for_url(proc: subprocess.Popen[str], timeout: float = 120.0) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if match:
            return match.group(0)
    proc.kill()
    raise AssertionError("the explorer printed no URL:\n" + "".join(seen))


def test_explore_serves_a_run_and_stops_on_ctrl_c(vae_run: Path) -> None:
    proc = _start(str(vae_run), "--port", "0")
    try:
        url = _wait_for_url(proc)
        with urllib.request.urlopen(url + "api/info", timeout=30) as response:
            info = json.load(response)
        assert info["kind"] == "latent" and info["title"] == "vae-run"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b"plausible" in response.read()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/run"], "does not exist"),
        (["RUN", "--threads", "0"], "--threads must be >= 1"),
        (["RUN", "--port", "99999"], "--port must be in 0..65535"),
    ],
    ids=str,
)
def test_explore_errors_are_one_paragraph(vae_run: Path, args: list[str], message: str) -> None:
    import typer
    from typer.testing import CliRunner

    from plausible.cli.explore import explore

    app = typer.Typer()
    app.command()(explore)
    result = CliRunner().invoke(app, [str(vae_run) if a == "RUN" else a for a in args])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_explore_is_registered_in_the_cli() -> None:
    from typer.testing import CliRunner

    from plausible.cli.main import _register_commands, app

    _register_commands()
    result = CliRunner().invoke(app, ["explore", "--help"])
    assert result.exit_code == 0, result.output
    assert "--port" in result.output and "--host" in result.output
