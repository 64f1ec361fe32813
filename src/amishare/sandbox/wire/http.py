"""The sandbox's HTTP server: WSGI over HTTP/1.1 with keep-alive, as AWS endpoints serve SDKs.

werkzeug's development server closes every connection after one response (and then waits to drain
the socket), so each call cost a TCP handshake and a new thread on both sides: at fleet scale that
was most of the sandbox's CPU. Here a connection is served by one thread for as long as the client
keeps it open (SDKs pool their connections); every request body is read whole before the
application runs, and every response carries its length, so requests follow one another on it. A request
the application fails on is still answered (HTTP 500), so the connection and the requests after it survive.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

LOG = logging.getLogger(__name__)
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
IDLE_SECONDS = 60  # an idle kept-alive connection is closed after this long


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet, as a test fixture should be
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": self.path,
            "REQUEST_URI": self.path,
            "CONTENT_LENGTH": str(length),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        response: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            response["status"], response["headers"] = status, headers
            return lambda data: None

        try:
            payload = self._run(environ, start_response)
        except Exception:  # the application's own answer to a failure failed: still answer, never drop the connection
            LOG.exception("the sandbox's application failed on %s %s", self.command, self.path)
            response["status"], response["headers"], payload = "500 Internal Server Error", [], b""
        code, _, reason = str(response["status"]).partition(" ")
        self.send_response(int(code), reason)
        for name, value in response["headers"]:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _run(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> bytes:
        chunks = self.server.app(environ, start_response)
        try:
            return b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if callable(close):
                close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve


class Server(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server of one WSGI application (one thread per open connection)."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str, port: int, app: WsgiApp) -> None:
        self.app = app
        super().__init__((host, port), _Handler)
