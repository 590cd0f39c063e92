"""An HTTP forward proxy on loopback: what a corporate proxy is to the signer.

Plain-http requests arrive in absolute form (``GET http://host/path``) and are relayed;
https goes through ``CONNECT host:port`` and a byte tunnel, so TLS stays end to end
(the proxy sees only which host was asked for, as a real one does). Every request is
recorded as (method, target) so a test can tell whether traffic went through it.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.servers.loopback import BackgroundServer, LoopbackHTTPServer

_HOP = {"proxy-connection", "proxy-authorization", "connection", "keep-alive"}


class ForwardProxy(BackgroundServer):
    thread_name = "forward-proxy"

    def __init__(self) -> None:
        self._seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def seen(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._seen)

    def make_server(self) -> LoopbackHTTPServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return None

            def _record(self, target: str) -> None:
                with owner._lock:
                    owner._seen.append((self.command, target))

            def do_CONNECT(self) -> None:
                self._record(self.path)
                host, _, port = self.path.rpartition(":")
                try:
                    upstream = socket.create_connection((host, int(port)), timeout=10)
                except OSError:
                    self.send_error(502)
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self._tunnel(self.connection, upstream)
                self.close_connection = True

            @staticmethod
            def _tunnel(client: socket.socket, upstream: socket.socket) -> None:
                sockets = [client, upstream]
                try:
                    while True:
                        readable, _, broken = select.select(sockets, [], sockets, 10)
                        if broken or not readable:
                            return
                        for sock in readable:
                            data = sock.recv(65536)
                            if not data:
                                return
                            (upstream if sock is client else client).sendall(data)
                except OSError:
                    return
                finally:
                    upstream.close()

            def _relay(self) -> None:
                self._record(self.path)
                parts = urlsplit(self.path)
                if parts.scheme != "http" or not parts.hostname:
                    self.send_error(400, "absolute http URL expected")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                try:
                    conn.request(self.command, path or "/", body=body, headers=headers)
                    answer = conn.getresponse()
                    content = answer.read()
                except OSError:
                    self.send_error(502)
                    return
                finally:
                    conn.close()
                self.send_response_only(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP | {"content-length", "transfer-encoding"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _relay  # noqa: N815

        return LoopbackHTTPServer(Handler, quiet=True)
