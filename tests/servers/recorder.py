"""A server that only records what reaches it: the other host a hostile registry names.

Tests point a registry answer (a next-page ``Link``, an upload ``Location``, a redirect)
at it and then look at what it saw: above all, whether any ``Authorization`` arrived.
It answers every request with ``status`` and an empty JSON body.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.servers.loopback import BackgroundServer, LoopbackHTTPServer


@dataclass(frozen=True)
class Arrival:
    method: str
    path: str
    authorization: str | None


class RecordingServer(BackgroundServer):
    thread_name = "recording-server"

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self._arrivals: list[Arrival] = []
        self._lock = threading.Lock()

    def make_server(self) -> LoopbackHTTPServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with owner._lock:
                    owner._arrivals.append(
                        Arrival(self.command, self.path, self.headers.get("Authorization"))
                    )
                body = b"{}"
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                return None

        return LoopbackHTTPServer(Handler, quiet=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)
