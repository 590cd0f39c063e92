"""The benchmark's delay proxy: bytes unchanged, round trips charged, exchanges recorded.

Only lower bounds on time are asserted: a delay proxy can be slow on a busy machine, but
it can never deliver early.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.delay_proxy import DelayProxy, label
from bench.timeline import critical_chain, exchanges
from tests.servers.loopback import BackgroundServer, LoopbackHTTPServer, server_tls_context

RTT_MS = 20.0


class _Echo(BaseHTTPRequestHandler):
    """POST answers the body's SHA-256 and the body itself; GET answers 'ok'."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._send(b"ok")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _EchoServer(BackgroundServer):
    def __init__(self, tls_dir: Path | None = None) -> None:
        self.tls_dir = tls_dir
        self.ca_file = tls_dir / "ca.pem" if tls_dir else None

    def make_server(self) -> LoopbackHTTPServer:
        context = None
        if self.tls_dir is not None and self.ca_file is not None:
            context = server_tls_context(self.tls_dir, self.ca_file)
        return LoopbackHTTPServer(_Echo, context=context, quiet=True)


@pytest.fixture
def echo() -> Iterator[_EchoServer]:
    with _EchoServer() as server:
        yield server


def test_a_new_connection_costs_two_round_trips_and_a_reused_one_one(echo: _EchoServer) -> None:
    with DelayProxy({"echo": echo.port}, RTT_MS) as proxy, requests.Session() as session:
        url = f"http://{proxy.address('echo')}/"
        start = time.monotonic()
        assert session.get(url, timeout=10).text == "ok"
        first = (time.monotonic() - start) * 1000
        start = time.monotonic()
        assert session.get(url, timeout=10).text == "ok"
        second = (time.monotonic() - start) * 1000
    assert first >= 2 * RTT_MS  # connect + request
    assert second >= RTT_MS


def test_bytes_pass_unchanged_and_in_order(echo: _EchoServer) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB: many chunks each way
    with DelayProxy({"echo": echo.port}, 2.0) as proxy:
        answer = requests.post(f"http://{proxy.address('echo')}/", data=body, timeout=30)
    digest, _, echoed = answer.content.partition(b"\n")
    assert digest.decode() == hashlib.sha256(body).hexdigest()
    assert echoed == body


def test_tls_stays_end_to_end_and_pays_its_handshake(tmp_path: Path) -> None:
    with (
        _EchoServer(tmp_path) as server,
        DelayProxy({"vault": server.port}, RTT_MS) as proxy,
    ):
        proxy.record(True)
        start = time.monotonic()
        answer = requests.get(
            f"https://{proxy.address('vault')}/", verify=str(server.ca_file), timeout=10
        )
        took = (time.monotonic() - start) * 1000
        proxy.record(False)
        seen = exchanges(proxy.dump())
    assert answer.text == "ok"
    assert took >= 3 * RTT_MS  # TCP, TLS 1.3 handshake, request
    assert [e.request for e in seen][:2] == ["TCP connect", "TLS handshake"]
    assert len(critical_chain(seen)) == 3


def test_exchanges_are_recorded_with_request_and_answer(echo: _EchoServer) -> None:
    with DelayProxy({"echo": echo.port}, 0.0) as proxy, requests.Session() as session:
        url = f"http://{proxy.address('echo')}"
        session.get(f"{url}/before", timeout=10)  # not recorded
        proxy.record(True)
        session.get(f"{url}/one", timeout=10)
        session.post(f"{url}/two", data=b"x" * 100, timeout=10)
        proxy.record(False)
        session.get(f"{url}/after", timeout=10)
        seen = exchanges(proxy.dump())
        assert exchanges(proxy.dump()) == []  # a dump forgets what it returned
    assert [(e.request, e.status) for e in seen] == [
        ("GET /one HTTP/1.1", 200),
        ("POST /two HTTP/1.1", 200),
    ]
    assert seen[1].up > 100 and seen[1].down > 100
    assert all(e.end >= e.start for e in seen)


def test_the_delay_can_change_between_phases(echo: _EchoServer) -> None:
    with DelayProxy({"echo": echo.port}, 0.0) as proxy, requests.Session() as session:
        url = f"http://{proxy.address('echo')}/"
        session.get(url, timeout=10)
        proxy.set_rtt(RTT_MS)
        start = time.monotonic()
        session.get(url, timeout=10)
        assert (time.monotonic() - start) * 1000 >= RTT_MS


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        (b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", "GET /v2/ HTTP/1.1"),
        (
            b"PUT /acct/c/b?comp=lease HTTP/1.1\r\nx-ms-lease-action: acquire\r\n\r\n",
            "PUT /acct/c/b?comp=lease HTTP/1.1 [acquire]",
        ),
        (b"HTTP/1.1 201 Created\r\n\r\n", "HTTP/1.1 201 Created"),
        (b"\x16\x03\x01\x02\x00", "TLS handshake"),
        (b"\x17\x03\x03\x00\x10", "TLS data"),
    ],
)
def test_label(chunk: bytes, expected: str) -> None:
    assert label(chunk) == expected
