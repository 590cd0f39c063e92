"""The pooled http.client transport under HttpClient, against a raw socket server.

Each test scripts what the peer writes on each connection it accepts, byte for byte,
so the cases a well-behaved test server never produces are covered: a keep-alive
connection the peer closed while it was idle, bytes beyond the announced length, an
answer that says ``Connection: close`` and then trickles, repeated header fields.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from signer.http import FailureKind, HttpClient, TransportError
from signer.http.client import Headers
from signer.http.connections import MAX_POOLS, Pools
from signer.http.environment import route
from signer.http.urls import Origin
from tests.servers.loopback import server_tls_context
from tests.servers.raw_socket import RawServer, Script, answer, read_request


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(script: Script, tls: ssl.SSLContext | None = None) -> RawServer:
        server = RawServer(script, tls)
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


def test_keep_alive_connections_are_reused(serve: Callable[..., RawServer]) -> None:
    server = serve(keep_alive())
    client = HttpClient(timeout=5)
    for _ in range(10):
        assert client.exchange("GET", f"{server.url}/v2/").content == b"ok"
    assert server.accepted == 1


def test_a_connection_the_peer_closed_while_idle_is_replaced(
    serve: Callable[..., RawServer],
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
    serve: Callable[..., RawServer],
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
    serve: Callable[..., RawServer],
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
    serve: Callable[..., RawServer],
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
    serve: Callable[..., RawServer],
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
    serve: Callable[..., RawServer],
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


# What an outside review of this transport found (each test failed before its fix).


def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_an_ipv6_literal_is_bracketed_in_the_connect_line(
    serve: Callable[..., RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bytes] = []

    def proxy(conn: socket.socket, index: int) -> None:
        seen.append(read_request(conn).split(b"\r\n", 1)[0])
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    server = serve(proxy)
    _no_proxy(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", server.url)
    with pytest.raises(TransportError) as caught:
        HttpClient(timeout=3).exchange("GET", "https://[2001:db8::1]:5000/v2/")
    assert "403" not in str(caught.value)  # the proxy's answer is not echoed
    assert seen == [b"CONNECT [2001:db8::1]:5000 HTTP/1.1"]


def test_a_name_only_in_the_certificate_cn_is_refused(
    serve: Callable[..., RawServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    tls = server_tls_context(tmp_path, ca, san=False)  # "localhost" in the CN alone
    server = serve(lambda conn, i: (read_request(conn), conn.sendall(answer())), tls)
    _no_proxy(monkeypatch)
    client = HttpClient(timeout=5, tls_verify=str(ca))
    with pytest.raises(TransportError) as caught:
        client.exchange("GET", f"https://localhost:{server.port}/")
    assert caught.value.kind is FailureKind.TLS


@pytest.mark.parametrize("size", [b"-1", b"+10", b"0x10", b"1_0", b""])
def test_a_malformed_chunk_size_fails_at_once_and_reads_no_body(
    serve: Callable[..., RawServer], size: bytes
) -> None:
    def script(conn: socket.socket, index: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\n")
        conn.sendall(b"x" * (4 * 1024 * 1024))  # with "-1" the stdlib read on to the end...
        time.sleep(3)  # ...which does not come: it waited for the deadline, over the cap

    server = serve(script)
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        HttpClient(timeout=5).exchange("GET", f"{server.url}/x", max_body=1024)
    assert caught.value.kind is not FailureKind.TIMEOUT
    assert time.monotonic() - started < 1.0


def test_interim_answers_are_skipped_and_never_answer_the_next_request(
    serve: Callable[..., RawServer],
) -> None:
    def script(conn: socket.socket, index: int) -> None:
        while request := read_request(conn):
            path = request.split(b" ")[1]
            if path == b"/first":
                conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n")
                conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n")
                time.sleep(0.2)
            conn.sendall(answer(b"answer to " + path))

    server = serve(script)
    client = HttpClient(timeout=5)
    first = client.exchange("GET", f"{server.url}/first")
    second = client.exchange("GET", f"{server.url}/second")
    assert (first.status, first.content) == (200, b"answer to /first")
    assert second.content == b"answer to /second"


def test_bytes_beyond_the_answer_inside_tls_never_answer_the_next_request(
    serve: Callable[..., RawServer], tmp_path: Path
) -> None:
    body = b"a" * 8000
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 8000\r\nX-Pad: "
    first = head + b"p" * (8192 - len(head) - 4 - len(body)) + b"\r\n\r\n" + body

    answered: list[bytes] = []

    def script(conn: socket.socket, index: int) -> None:
        while request := read_request(conn):
            # the first answer fills http.client's buffer exactly; the smuggled one rides
            # in the same TLS record, read off the socket by OpenSSL, invisible to poll
            if not answered:
                conn.sendall(first + answer(b"smuggled"))
            else:
                conn.sendall(answer(request.split(b" ")[1]))
            answered.append(request)

    ca = tmp_path / "ca.pem"
    server = serve(script, server_tls_context(tmp_path, ca))
    client = HttpClient(timeout=5, tls_verify=str(ca))
    assert client.exchange("GET", f"{server.url}/a").content == body
    time.sleep(0.1)
    assert client.exchange("GET", f"{server.url}/b").content == b"/b"


def test_a_trickled_tls_handshake_is_cut_at_the_deadline(
    serve: Callable[..., RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    def proxy(conn: socket.socket, index: int) -> None:
        read_request(conn)
        time.sleep(0.6)  # a slow but timely CONNECT answer
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        conn.recv(65536)  # the ClientHello
        # a 16 KiB record holding one ServerHello that fills it, then trickled, each byte
        # well inside the socket timeout: OpenSSL waits for the whole message
        conn.sendall(b"\x16\x03\x03\x40\x00" + b"\x02\x00\x3f\xfc")
        for _ in range(100):
            conn.sendall(b"A")
            time.sleep(0.05)

    server = serve(proxy)
    _no_proxy(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", server.url)
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        HttpClient(timeout=1.0).exchange("GET", "https://registry.example/v2/")
    assert caught.value.kind is FailureKind.TIMEOUT
    assert time.monotonic() - started < 1.5


def test_every_address_of_a_name_shares_one_connect_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.getaddrinfo
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(4)]  # a full accept queue: SYNs are dropped
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
    time.sleep(0.2)

    def two_dead_addresses(host: str, *args: object, **kwargs: object) -> object:
        if host == "registry.example":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in ("127.0.0.1",) * 2
            ]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    _no_proxy(monkeypatch)
    monkeypatch.setattr(socket, "getaddrinfo", two_dead_addresses)
    started = time.monotonic()
    try:
        with pytest.raises(TransportError) as caught:
            HttpClient(timeout=1.0).exchange("GET", f"http://registry.example:{port}/v2/")
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert caught.value.kind is FailureKind.TIMEOUT
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_a_bodyless_answer_with_chunked_framing_does_not_wait_for_a_body(
    serve: Callable[..., RawServer], status: bytes
) -> None:
    def script(conn: socket.socket, index: int) -> None:
        while read_request(conn):
            conn.sendall(b"HTTP/1.1 " + status + b"\r\nTransfer-Encoding: chunked\r\n\r\n")

    server = serve(script)
    started = time.monotonic()
    response = HttpClient(timeout=3).exchange("GET", f"{server.url}/x")
    assert response.content == b"" and time.monotonic() - started < 1.0


def test_a_peer_that_closes_during_the_handshake_is_a_transient_failure(
    serve: Callable[..., RawServer],
) -> None:
    def script(conn: socket.socket, index: int) -> None:
        conn.recv(65536)  # the ClientHello, then the peer goes away

    server = serve(script)
    with pytest.raises(TransportError) as caught:
        HttpClient(timeout=5).exchange("GET", f"https://127.0.0.1:{server.port}/")
    assert caught.value.kind.transient


def test_a_tls_answer_cut_without_close_notify_is_not_complete(
    serve: Callable[..., RawServer], tmp_path: Path
) -> None:
    def script(conn: socket.socket, index: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npartial")
        assert isinstance(conn, ssl.SSLSocket)
        conn.unwrap = None  # type: ignore[assignment]
        raw = socket.socket(fileno=conn.detach())  # close the TCP connection, no close_notify
        raw.close()

    ca = tmp_path / "ca.pem"
    server = serve(script, server_tls_context(tmp_path, ca))
    with pytest.raises(TransportError) as caught:
        HttpClient(timeout=5, tls_verify=str(ca)).exchange("GET", f"{server.url}/x")
    assert caught.value.kind is FailureKind.CONNECTION


def test_a_replaced_ca_bundle_is_read_again(
    serve: Callable[..., RawServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, other = tmp_path / "ca.pem", tmp_path / "other-ca.pem"
    tls = server_tls_context(tmp_path, ca)
    server_tls_context(tmp_path, other)  # a CA that did not sign the server's certificate
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(other.read_bytes())
    server = serve(lambda conn, i: (read_request(conn), conn.sendall(answer(close=True))), tls)
    _no_proxy(monkeypatch)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    client = HttpClient(timeout=5)
    with pytest.raises(TransportError):
        client.exchange("GET", f"{server.url}/")
    bundle.write_bytes(ca.read_bytes() + other.read_bytes())  # the operator fixes the bundle
    assert client.exchange("GET", f"{server.url}/").content == b"ok"
