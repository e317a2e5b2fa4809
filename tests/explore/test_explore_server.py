"""The explorer's HTTP server: static whitelist, every endpoint, and refusals with a message."""

from __future__ import annotations

import json
import socket

import pytest

from plausible.explore import LatentExplorer, make_explorer, make_server
from plausible.explore.server import MAX_BODY_BYTES

STATIC = [
    ("/", "text/html", b"<!doctype html>"),
    ("/index.html", "text/html", b"<!doctype html>"),
    ("/app.js", "text/javascript", b"use strict"),
    ("/style.css", "text/css", b"image-rendering: pixelated"),
    ("/favicon.svg", "image/svg+xml", b"<svg"),
]


@pytest.fixture
def client(serve, vae, vae_data):
    return serve(make_explorer(vae, vae_data, title="demo", model_name="vae"))


def _error(reply, status: int) -> str:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json"
    body = reply.json
    assert body["status"] == status and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in body["error"]
    return body["error"]


@pytest.mark.parametrize(("path", "kind", "snippet"), STATIC, ids=str)
def test_static_files(client, path, kind, snippet) -> None:
    reply = client.get(path)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith(kind)
    assert snippet in reply.body
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_page_has_a_strict_content_security_policy(client) -> None:
    csp = client.get("/").headers["content-security-policy"]
    assert (
        "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    )


def test_page_refers_only_to_its_own_files(client) -> None:
    page = client.get("/").body.decode()
    assert "http://" not in page and "https://" not in page
    for name in ("app.js", "style.css", "favicon.svg"):
        assert name in page


def test_head_has_headers_and_no_body(client) -> None:
    reply = client.request("HEAD", "/app.js")
    assert reply.status == 200 and reply.body == b""
    assert int(reply.headers["content-length"]) > 1000


def test_info(client) -> None:
    reply = client.get("/api/info?ignored=1")
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    info = reply.json
    assert info["kind"] == "latent" and info["latent_dim"] == 12 and info["title"] == "demo"
    assert info["endpoints"] == ["decode", "encode", "sample"]


def test_decode_png_and_array(client) -> None:
    png = client.post("/api/decode", {"z": [0.0] * 12})
    assert png.status == 200
    assert png.json["image"].startswith("data:image/png;base64,")
    assert png.json["elapsed_ms"] >= 0
    assert len(png.body) < 2000  # an 8 x 8 image: small enough for interactive rates
    array = client.post("/api/decode", {"z": [0.1] * 12, "format": "array"}).json
    assert array["shape"] == [1, 8, 8] and len(array["values"]) == 64
    assert all(0.0 <= v <= 1.0 for v in array["values"])


def test_sample_and_encode(client) -> None:
    sample = client.post("/api/sample", {"seed": 3}).json
    assert len(sample["z"]) == 12 and sample["seed"] == 3
    assert client.post("/api/sample", {"seed": 3}).json["z"] == sample["z"]
    assert client.post("/api/sample", raw=b"").status == 200  # an empty body is {}
    encoded = client.post("/api/encode", {"index": 0}).json
    assert len(encoded["z"]) == 12 and encoded["input"].startswith("data:image/png")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"z": [0.0] * 11}, "exactly 12 numbers"),
        ({"z": [0.0] * 13}, "exactly 12 numbers"),
        ({"z": [0.0] * 11 + [6.0]}, r"z[11] = 6 is out of range"),
        ({"z": [0.0] * 11 + [-1e9]}, "out of range"),
        ({"z": [0.0] * 11 + [None]}, "must be a finite number"),
        ({"z": [0.0] * 11 + [True]}, "must be a finite number"),
        ({"z": "0"}, "must be a list"),
        ({}, "missing field(s) 'z'"),
        ({"z": [0.0] * 12, "extra": 1}, "unknown field(s) 'extra'"),
        ({"z": [0.0] * 12, "format": "jpeg"}, "'format' must be one of"),
    ],
    ids=str,
)
def test_decode_bad_requests(client, body, message) -> None:
    assert message in _error(client.post("/api/decode", body), 400)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"z": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NaN]}', "NaN"),
        (b'{"z": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1e999]}', "finite number"),
        (b'{"z": [0,', "not valid JSON"),
        (b"[0, 0]", "JSON object"),
        (b"\xff", "UTF-8"),
    ],
    ids=str,
)
def test_malformed_bodies(client, raw, message) -> None:
    assert message in _error(client.post("/api/decode", raw=raw), 400)


def test_encode_and_sample_bad_requests(client) -> None:
    assert "out of range" in _error(client.post("/api/encode", {"index": 20}), 400)
    assert "out of range" in _error(client.post("/api/encode", {"index": -1}), 400)
    assert "must be an integer" in _error(client.post("/api/encode", {"index": 1.5}), 400)
    assert "'seed'" in _error(client.post("/api/sample", {"seed": 2**40}), 400)


def test_oversized_body_is_refused_unread(client) -> None:
    raw = b'{"z": [' + b"0," * (MAX_BODY_BYTES // 2) + b"0]}"
    message = _error(client.post("/api/decode", raw=raw), 400)
    assert f"at most {MAX_BODY_BYTES}" in message


def test_bad_content_length_and_chunked_bodies(client) -> None:
    assert "Content-Length" in _error(
        client.post("/api/sample", raw=b"{}", headers={"Content-Length": "-1"}), 400
    )
    assert "chunked" in _error(
        client.post("/api/sample", raw=b"{}", headers={"Transfer-Encoding": "chunked"}), 400
    )


@pytest.mark.parametrize(
    "path",
    [
        "/server.py",
        "/../server.py",
        "/static/app.js",
        "/app.js/..",
        "/%2e%2e/explorers.py",
        "/..%2fserver.py",
        "//etc/passwd",
        "/api",
        "/api/",
        "/api/info/",
        "/index.html/",
        "/README.md",
    ],
    ids=str,
)
def test_unknown_paths_are_404(client, path) -> None:
    _error(client.get(path), 404)


def test_unknown_endpoint_for_this_model(client) -> None:
    message = _error(client.post("/api/density", {"x": 0.5}), 404)
    assert "/api/decode" in message and "latent model" in message
    _error(client.post("/api/nothing", {}), 404)


def test_wrong_methods_are_405(client) -> None:
    reply = client.get("/api/decode")
    assert "takes POST" in _error(reply, 405) and reply.headers["allow"] == "POST"
    reply = client.post("/api/info", {})
    assert _error(reply, 405) and reply.headers["allow"] == "GET, HEAD"
    _error(client.post("/", {}), 405)
    _error(client.request("PUT", "/api/decode", {"z": []}), 405)
    _error(client.request("DELETE", "/"), 405)
    _error(client.request("OPTIONS", "/api/sample"), 405)
    _error(client.request("PUT", "/nowhere"), 404)


def test_unknown_method_answers_json(client) -> None:
    _error(client.request("BREW", "/"), 501)


def test_foreign_host_header_is_refused(client) -> None:
    # A page on another site cannot reach this server through DNS rebinding.
    message = _error(client.get("/api/info", headers={"Host": "attacker.example:80"}), 403)
    assert "localhost" in message
    assert client.get("/api/info", headers={"Host": "localhost:1234"}).status == 200


def test_internal_errors_hide_the_traceback(serve, vae, vae_data, caplog) -> None:
    class Broken(LatentExplorer):
        def decode(self, body):
            raise RuntimeError("secret internals")

    client = serve(Broken(vae, vae_data))
    with caplog.at_level("ERROR", logger="plausible.explore.server"):
        message = _error(client.post("/api/decode", {"z": [0.0] * 12}), 500)
    assert "secret" not in message and "server log" in message
    assert "secret internals" in caplog.text


def test_keep_alive_serves_many_requests_on_one_connection(serve, vae, vae_data) -> None:
    import http.client

    server_client = serve(make_explorer(vae, vae_data))
    conn = http.client.HTTPConnection(server_client.host, server_client.port, timeout=30)
    try:
        for i in range(5):
            conn.request("POST", "/api/decode", body=json.dumps({"z": [i / 10] * 12}))
            response = conn.getresponse()
            assert response.status == 200 and "image" in json.loads(response.read())
        conn.request("POST", "/api/decode", body=b"{bad")
        response = conn.getresponse()
        assert response.status == 400
        response.read()
        conn.request("GET", "/api/info")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_conditional_endpoints_over_http(serve, quadrant_cvae, quadrant_data) -> None:
    client = serve(make_explorer(quadrant_cvae, quadrant_data, model_name="cvae"))
    assert client.get("/api/info").json["kind"] == "conditional"
    cond = client.post("/api/condition", {"label": int(quadrant_data.test["label"][0])}).json
    assert cond["truth"].startswith("data:image/png")
    hyp = client.post("/api/hypotheses", {"condition": cond["index"], "count": 4}).json
    assert len(hyp["images"]) == 4
    assert client.post("/api/decode", {"z": [0, 0, 0], "condition": 1}).status == 200
    assert "missing field" in _error(client.post("/api/decode", {"z": [0, 0, 0]}), 400)
    assert "out of range" in _error(
        client.post("/api/hypotheses", {"condition": 0, "count": 99}), 400
    )


def test_density_endpoint_over_http(serve, mdn, density_data) -> None:
    client = serve(make_explorer(mdn, density_data(1, 1)))
    out = client.post("/api/density", {"x": 0.3}).json
    assert len(out["y"]) == len(out["density"]) == 200
    assert "exactly one of" in _error(client.post("/api/density", {}), 400)
    _error(client.post("/api/decode", {"z": [0.0]}), 404)


def test_url_and_port_checks(vae, vae_data) -> None:
    explorer = make_explorer(vae, vae_data)
    server = make_server(explorer, "127.0.0.1", 0)
    try:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/")
        assert server.server_address[1] > 0
    finally:
        server.server_close()
    with pytest.raises(ValueError, match="port must be in"):
        make_server(explorer, "127.0.0.1", 70000)


def test_port_in_use_raises_oserror(vae, vae_data) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            make_server(make_explorer(vae, vae_data), "127.0.0.1", taken.getsockname()[1])
