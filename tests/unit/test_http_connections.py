"""The pooled http.client transport under HttpClient, against a raw socket server.

Each test scripts what the peer writes on each connection it accepts, byte for byte,
so the cases a well-behaved test server never produces are covered: a keep-alive
connection the peer closed while it was idle, bytes beyond the announced length, an
answer that says ``Connection: close`` and then trickles, repeated header fields.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress

import pytest

from signer.http import FailureKind, HttpClient, TransportError
from signer.http.client import Headers
from signer.http.connections import MAX_POOLS, Pools
from signer.http.environment import route
from signer.http.urls import Origin

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

    def __init__(self, script: Script) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
            self.script(conn, index)

    def close(self) -> None:
        self._stop = True
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Script], RawServer]]:
    servers: list[RawServer] = []

    def start(script: Script) -> RawServer:
        server = RawServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def keep_alive(body: bytes = b"ok") -> Script:
    def script(conn: socket.socket, index: int) -> None:
        while read_request(conn):
            conn.sendall(answer(body))

    return script


def test_keep_alive_connections_are_reused(serve: Callable[[Script], RawServer]) -> None:
    server = serve(keep_alive())
    client = HttpClient(timeout=5)
    for _ in range(10):
        assert client.exchange("GET", f"{server.url}/v2/").content == b"ok"
    assert server.accepted == 1


def test_a_connection_the_peer_closed_while_idle_is_replaced(
    serve: Callable[[Script], RawServer],
) -> None:
    def script(conn: socket.socket, index: int) -> None:
        read_request(conn)
        conn.sendall(answer(f"answer {index}".encode()))
        # and then close it, keep-alive announced or not, as idle-timeouts do

    server = serve(script)
    client = HttpClient(timeout=5)
    assert client.exchange("GET", f"{server.url}/a").content == b"answer 0"
    time.sleep(0.2)  # the close reaches the idle connection in the pool
    assert client.exchange("GET", f"{server.url}/b").content == b"answer 1"
    assert server.accepted == 2


def test_bytes_beyond_the_announced_length_never_answer_the_next_request(
    serve: Callable[[Script], RawServer],
) -> None:
    smuggled = answer(b"smuggled")

    def script(conn: socket.socket, index: int) -> None:
        while request := read_request(conn):
            path = request.split(b" ")[1]
            conn.sendall(answer(b"answer " + path, extra=smuggled))

    server = serve(script)
    client = HttpClient(timeout=5)
    first = client.exchange("GET", f"{server.url}/a")
    time.sleep(0.1)  # the extra bytes are in the reader's buffer or on the socket
    second = client.exchange("GET", f"{server.url}/b")
    assert (first.content, second.content) == (b"answer /a", b"answer /b")


def test_a_trickled_answer_on_a_closing_connection_is_cut_at_the_deadline(
    serve: Callable[[Script], RawServer],
) -> None:
    def script(conn: socket.socket, index: int) -> None:
        read_request(conn)
        head = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\n\r\n"
        conn.sendall(head)
        for _ in range(100):  # each byte inside the socket timeout, the whole far beyond
            conn.sendall(b"x")
            time.sleep(0.1)

    server = serve(script)
    client = HttpClient(timeout=1.0)
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        client.exchange("GET", f"{server.url}/slow")
    assert caught.value.kind is FailureKind.TIMEOUT
    assert time.monotonic() - started < 2.5


def test_a_peer_that_closes_mid_body_is_a_transient_failure(
    serve: Callable[[Script], RawServer],
) -> None:
    def script(conn: socket.socket, index: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")

    server = serve(script)
    with pytest.raises(TransportError) as caught:
        HttpClient(timeout=5).exchange("GET", f"{server.url}/cut")
    assert caught.value.kind is FailureKind.CONNECTION
    assert caught.value.kind.transient


def test_a_refused_connection_is_a_transient_failure() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there now
    with pytest.raises(TransportError) as caught:
        HttpClient(timeout=5).exchange("GET", f"http://127.0.0.1:{port}/")
    assert caught.value.kind is FailureKind.CONNECTION


def test_repeated_header_fields_are_joined_and_names_are_case_insensitive(
    serve: Callable[[Script], RawServer],
) -> None:
    def script(conn: socket.socket, index: int) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nLink: <a>; rel=next\r\nContent-Length: 0\r\n"
            b"link: <b>; rel=last\r\nX-Other: 1\r\n\r\n"
        )

    server = serve(script)
    response = HttpClient(timeout=5).exchange("GET", f"{server.url}/h")
    assert response.headers["LINK"] == "<a>; rel=next, <b>; rel=last"
    assert response.headers.get("x-other") == "1"
    assert sorted(response.headers) == ["Content-Length", "Link", "X-Other"]


def test_two_content_lengths_that_differ_are_a_protocol_failure(
    serve: Callable[[Script], RawServer],
) -> None:
    def script(conn: socket.socket, index: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\nok")

    server = serve(script)
    with pytest.raises(TransportError) as caught:
        HttpClient(timeout=5).exchange("GET", f"{server.url}/h")
    assert caught.value.kind is FailureKind.PROTOCOL


def test_an_https_proxy_is_refused_as_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "https://127.0.0.1:1")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    with pytest.raises(TransportError) as caught:
        HttpClient(timeout=5).exchange("GET", "https://registry.example/v2/")
    assert caught.value.kind is FailureKind.UNSAFE
    assert "only http:// proxies" in str(caught.value)


def test_pools_are_bounded_and_the_least_recently_used_is_closed() -> None:
    pools = Pools(size=4, verify=True)
    first = Origin("http", "host-0.example", 80)
    pools.get(first, route("http", first.netloc))
    for n in range(1, MAX_POOLS + 5):
        origin = Origin("http", f"host-{n}.example", 80)
        pools.get(origin, route("http", origin.netloc))
    assert len(pools._pools) == MAX_POOLS
    assert (first, route("http", first.netloc)) not in pools._pools


def test_headers_mapping_semantics() -> None:
    headers = Headers([("A", "1"), ("b", "2"), ("a", "3")])
    assert headers["a"] == "1, 3"
    assert "B" in headers and "c" not in headers
    assert object() not in headers
    assert len(headers) == 2 and list(headers) == ["A", "b"]
