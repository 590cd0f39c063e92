"""A counting HTTP reverse proxy on loopback: every request is recorded, then forwarded.

Put in front of Azurite (or any plain-http service) to count the calls a code path
makes, by method and path, without touching the code under test. One upstream
connection per client connection, kept alive; bodies are read whole (small requests).
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.servers.loopback import BackgroundServer, LoopbackHTTPServer

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # with its query string
    status: int
    headers: dict[str, str]  # request headers, lower-case names (x-ms-* only)


class CountingProxy(BackgroundServer):
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._records: list[Recorded] = []

    @property
    def records(self) -> list[Recorded]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def record(self, entry: Recorded) -> None:
        with self._lock:
            self._records.append(entry)

    thread_name = "counting-proxy"

    def make_server(self) -> LoopbackHTTPServer:
        return LoopbackHTTPServer(type("Handler", (_Handler,), {"proxy": self}))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: CountingProxy
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests are recorded in memory."""

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if self._upstream is None:
            self._upstream = http.client.HTTPConnection(*self.proxy.upstream, timeout=30)
        try:
            self._upstream.request(self.command, self.path, body=body, headers=headers)
            answer = self._upstream.getresponse()
            content = answer.read()
        except (OSError, http.client.HTTPException):
            self._upstream.close()
            self._upstream = http.client.HTTPConnection(*self.proxy.upstream, timeout=30)
            self._upstream.request(self.command, self.path, body=body, headers=headers)
            answer = self._upstream.getresponse()
            content = answer.read()
        self.proxy.record(
            Recorded(
                self.command,
                self.path,
                answer.status,
                {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-ms-")},
            )
        )
        self.send_response_only(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", answer.getheader("Content-Length") or "0")
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_MERGE = _forward  # noqa: N815
