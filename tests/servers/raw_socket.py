"""A raw socket server on loopback, for tests that need a peer to write exactly what it
wants, byte for byte (what a well-behaved HTTP server never produces), optionally over
TLS (a context from ``loopback.server_tls_context``).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from contextlib import suppress

Script = Callable[[socket.socket, int], None]  # (connection, its index)


def answer(body: bytes = b"ok", *, extra: bytes = b"", close: bool = False) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body + extra


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data


class RawServer:
    """Accepts connections on loopback and runs ``script`` on each, in its own thread."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{'http' if self.tls is None else 'https'}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            index, self.accepted = self.accepted, self.accepted + 1
            threading.Thread(target=self._run, args=(conn, index), daemon=True).start()

    def _run(self, conn: socket.socket, index: int) -> None:
        with conn, suppress(OSError):
            peer = conn if self.tls is None else self.tls.wrap_socket(conn, server_side=True)
            self.script(peer, index)

    def close(self) -> None:
        self._stop = True
        self.listener.close()
