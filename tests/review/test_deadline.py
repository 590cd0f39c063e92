"""Review: the per-request deadline against a registry that answers slowly with redirects.

``HttpClient._once`` arms a fresh deadline for every hop of a redirect chain, so one
``exchange`` may last ``(MAX_REDIRECTS + 1) x timeout``; the transport's retries and the
401 round trip multiply it again. The lease's fence margin (15 s) is sized for one
request's deadline (10 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from signer.errors import SignerError
from tests.registry.conftest import ClientFactory
from tests.servers.loopback import BackgroundServer, LoopbackHTTPServer

TIMEOUT = 1.0
PAUSE = 0.8  # under the socket timeout and under the deadline, each time


class SlowRedirector(BackgroundServer):
    """Answers every GET, after PAUSE seconds, with a redirect to another path of itself."""

    thread_name = "slow-redirector"

    def make_server(self) -> LoopbackHTTPServer:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                time.sleep(PAUSE)
                self.send_response(307)
                self.send_header("Location", self.path + "x")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        return LoopbackHTTPServer(Handler, quiet=True)


@pytest.fixture
def redirector() -> Iterator[SlowRedirector]:
    with SlowRedirector() as server:
        yield server


def test_a_redirect_chain_does_not_outlast_the_request_deadline(
    redirector: SlowRedirector, make_client: ClientFactory
) -> None:
    client = make_client(redirector.host, timeout=TIMEOUT, retries=0)
    started = time.monotonic()
    with pytest.raises(SignerError):
        client.resolve("app", "v1")
    elapsed = time.monotonic() - started
    # the request's deadline is TIMEOUT; six hops of PAUSE each take 4.8 s
    assert elapsed < 3 * TIMEOUT, f"one request ran {elapsed:.1f} s with a {TIMEOUT:g} s deadline"
