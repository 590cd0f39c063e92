"""Review: can a worker that lost its lock still write the tag-schema index?

Real parts: Debian's docker-registry behind the fault proxy, Azurite (ledger and lock), the
function's entry point. The pause is the one ``tests/app/test_hostile_pushes.py`` uses:
the ledger module's clock jumps as a thawed VM's does, and meanwhile another worker (its
clock past the first one's lock) takes the lock over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scripts.sample_events import push_event
from shared import ledger as ledger_module
from signer.errors import TransientError
from signer.models import SignRequest
from signer.registry import transport
from tests.plugins.app import SignerApp
from tests.servers.docker_registry import DockerRegistry
from tests.servers.fault_proxy import FaultProxy

INDEX_PUT = r"/manifests/sha256-"


class _Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@pytest.fixture
def proxy(docker_registry: DockerRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(docker_registry.url) as proxy:
        yield proxy


def test_a_worker_paused_between_retries_of_the_index_put_writes_nothing(
    make_app_on: Callable[..., SignerApp],
    proxy: FaultProxy,
    repository_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fence is checked once before ``_put_manifest``; the transport then retries the
    PUT on a 503 (sleeping its back-off or Retry-After) and sends it again without asking
    the fence. A worker frozen during that sleep (the lease ran out, another worker took
    it and wrote the index) wakes up and writes its stale index over the other's."""
    clock = _Clock()
    monkeypatch.setattr(ledger_module, "time", clock)
    other = make_app_on(proxy)  # built first: the worker's instance (app.deliver) is the last
    app = make_app_on(proxy)
    other.handlers.ledger.clock = lambda: datetime.now(UTC) + timedelta(seconds=70)
    image = app.pusher.push_image(repository_name, "v1")
    proxy.fail(503, method="PUT", path=INDEX_PUT, retry_after=0)
    sleep = transport.Transport._sleep

    def frozen_while_sleeping(seconds: float) -> None:
        clock.offset += 70.0  # longer than the 60 s lock: another worker takes it meanwhile
        other.handlers.ledger.journal(ledger_module.Origin.http("other")).started(
            app_request, image.digest
        )
        sleep(seconds)

    app_request = SignRequest(app.registry_host, repository_name, image.digest, tag="v1")
    monkeypatch.setattr(transport.Transport, "_sleep", staticmethod(frozen_while_sleeping))
    event: dict[str, Any] = push_event(
        app.registry_host, repository_name, image.digest, size=image.size
    )

    with pytest.raises(TransientError):  # lock lost: nothing written, redelivered
        app.deliver(event)
    assert proxy.count("PUT", INDEX_PUT, outcome="forwarded") == 0
