"""pytest fixture: a local RFC 3161 TSA (``openssl ts -reply`` over HTTP) per test.

Each test gets its own server, PKI and request counter, so fault queues and counts never
leak between tests. ``openssl`` is part of the base system here and in CI.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.tsa import TsaServer


@pytest.fixture
def tsa_server() -> Iterator[TsaServer]:
    with TsaServer() as server:
        yield server
