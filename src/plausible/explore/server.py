"""The explorer's local web server: a whitelist of static files plus a strict JSON API.

Routes:

- ``GET /`` (and ``/index.html``, ``/app.js``, ``/style.css``, ``/favicon.svg``): the page.
- ``GET /api/info``: what the page needs to lay itself out.
- ``POST /api/<endpoint>``: the explorer's endpoints (``decode``, ``sample``, ``encode``,
  ``condition``, ``hypotheses``, ``density``), each a JSON object in and out.

A request the explorer refuses gets ``400`` with ``{"error": message}``; an unknown path ``404``;
a wrong method ``405``; a failure inside the model ``500`` with a short message (the traceback
goes to the log, never to the client). Only the files named in the whitelist are ever read.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from plausible.explore.base import Explorer
from plausible.explore.validation import BadRequestError, NotFoundError, parse_json_object

__all__ = ["MAX_BODY_BYTES", "ExplorerServer", "make_server"]

log = logging.getLogger(__name__)

#: Largest request body accepted, in bytes (a 1000-dimensional z is about 20 kB).
MAX_BODY_BYTES = 64 * 1024

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def _load_static() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("plausible.explore") / "static"
    return {route: ((folder / name).read_bytes(), kind) for route, (name, kind) in _STATIC.items()}


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ExplorerServer(ThreadingHTTPServer):
    """A threaded HTTP server around one :class:`Explorer`.

    Args:
        explorer: What the API endpoints call.
        host: Address to bind; the loopback address by default, so only this machine can reach it.
        port: Port to bind; 0 picks a free one (see :attr:`url`).
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, explorer: Explorer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.explorer = explorer
        self.static = _load_static()
        self.loopback_only = _is_loopback(host)
        self.info_body = json.dumps(explorer.info()).encode()
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """``http://host:port/`` of the page."""
        host, port = self.server_address[:2]
        shown = str(host)
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    server: ExplorerServer
    protocol_version = "HTTP/1.1"  # keep-alive: the page sends many small requests
    # Headers and body leave in two writes; with Nagle's algorithm the second waits for the
    # client's delayed ACK (about 40 ms on Linux), which would dominate every round trip.
    disable_nagle_algorithm = True
    server_version = "plausible-explore"
    sys_version = ""

    # -- responses ----------------------------------------------------------------------------
    def _send(
        self, status: int, body: bytes, content_type: str, *, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", _CSP)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: dict[str, Any], **kwargs: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", **kwargs)

    def _error(self, status: int, message: str, **kwargs: Any) -> None:
        self._json(status, {"error": message, "status": status}, **kwargs)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Used by http.server itself for malformed requests: answer in JSON like everything else.
        self.close_connection = True
        text = message or HTTPStatus(code).phrase
        with contextlib.suppress(OSError):  # the client may have gone away
            self._error(code, text)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # -- request plumbing ---------------------------------------------------------------------
    def _path(self) -> str | None:
        if self.server.loopback_only:
            host = (self.headers.get("Host") or "").strip()
            name = urlsplit(f"//{host}").hostname or ""
            if not _is_loopback(name):
                self.close_connection = True
                self._error(
                    403,
                    f"this explorer only answers requests addressed to localhost, "
                    f"not {host!r}; open {self.server.url}",
                )
                return None
        return urlsplit(self.path).path

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise BadRequestError("chunked request bodies are not accepted; send a Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.isdigit():
            self.close_connection = True
            raise BadRequestError(f"Content-Length must be a byte count, got {length!r}")
        size = int(length)
        if size > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body must not be taken for the next request
            raise BadRequestError(
                f"the request body is {size} bytes; the explorer accepts at most {MAX_BODY_BYTES}"
            )
        return self.rfile.read(size)

    def _allowed(self, path: str) -> str | None:
        if path in self.server.static or path == "/api/info":
            return "GET, HEAD"
        if path.startswith("/api/") and path[5:] in self.server.explorer.endpoints():
            return "POST"
        return None

    # -- methods ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self._path()
        if path is None:
            return
        if path in self.server.static:
            body, kind = self.server.static[path]
            self._send(200, body, kind)
        elif path == "/api/info":
            self._send(200, self.server.info_body, "application/json")
        elif self._allowed(path):
            self._error(
                405, f"{path} takes POST with a JSON body, not GET", extra={"Allow": "POST"}
            )
        else:
            self._error(404, f"nothing at {path}; the explorer serves / and /api/info")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        path = self._path()
        if path is None:
            return
        tic = time.perf_counter()
        try:
            raw = self._read_body()
            if not path.startswith("/api/") or path == "/api/info":
                allow = self._allowed(path)
                if allow:
                    self._error(
                        405, f"{path} takes {allow.split(',')[0]}, not POST", extra={"Allow": allow}
                    )
                else:
                    self._error(404, f"nothing at {path}")
                return
            result = self.server.explorer.call(path[len("/api/") :], parse_json_object(raw))
        except BadRequestError as err:
            self._error(400, str(err))
            return
        except NotFoundError as err:
            self._error(404, str(err.args[0]))
            return
        except Exception:
            log.exception("the explorer failed on %s", path)
            self._error(500, f"internal error while answering {path}; the server log has details")
            return
        result["elapsed_ms"] = round(1000 * (time.perf_counter() - tic), 3)
        self._json(200, result)

    def _not_allowed(self) -> None:
        path = self._path()
        if path is None:
            return
        self.close_connection = True
        allow = self._allowed(path)
        if allow is None:
            self._error(404, f"nothing at {path}")
        else:
            self._error(405, f"{path} does not take {self.command}", extra={"Allow": allow})

    def do_PUT(self) -> None:
        self._not_allowed()

    def do_DELETE(self) -> None:
        self._not_allowed()

    def do_PATCH(self) -> None:
        self._not_allowed()

    def do_OPTIONS(self) -> None:
        self._not_allowed()


def make_server(explorer: Explorer, host: str = "127.0.0.1", port: int = 0) -> ExplorerServer:
    """Bind an :class:`ExplorerServer`; call ``serve_forever()`` on it (``shutdown()`` to stop)."""
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535 (0 picks a free one), got {port}")
    if not _is_loopback(host):
        log.warning(
            "the explorer listens on %s: it has no authentication, so anyone who can reach "
            "this address can use it",
            host,
        )
    return ExplorerServer(explorer, host, port)
