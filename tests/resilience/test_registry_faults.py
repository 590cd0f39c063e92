"""Registry faults between the function app and a real registry (Debian's docker-registry).

The app's SIGNER_REGISTRY is a fault proxy in front of docker-registry; events name the
proxy as their registry host. Each fault is either retried within the client's budget
(``retries=3``: at most 4 attempts, Retry-After above 10 s not waited for) and the event
is signed on the first delivery, or it surfaces as a TransientError (Event Grid delivers
the event again) and a later delivery signs it. Either way: exactly one signature that a
verifier lists and accepts, every delivery in the ledger, nothing half-written that blocks
a later success. Results are always looked at through the registry directly, not the proxy.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from scripts.sample_events import push_event
from signer.errors import TransientError, TransientRegistryError
from signer.models import Descriptor
from tests.plugins.app import SignerApp
from tests.resilience.helpers import (
    SBOM_TYPE,
    TIMEOUT_SECONDS,
    MakeApp,
    deliver_until_acknowledged,
    push_sbom_referrer,
)
from tests.servers.fault_proxy import Action, FaultProxy
from tests.servers.images import OCI_INDEX, OCI_MANIFEST, PushedImage

# request paths as the signer sends them (the proxy matches regexes on the path)
GET_BY_DIGEST = r"/manifests/sha256:"  # resolve the pushed digest
TAG_INDEX = r"/manifests/sha256-"  # the referrers tag-schema index (GET and PUT)
SIGNATURE_PUT = r"/manifests/sha256:"  # the signature manifest is PUT by digest
UPLOAD_START = r"/blobs/uploads/(\?|$)"
UPLOAD_SESSION = r"/blobs/uploads/[0-9a-f-]+\?"
CONFIG_HEAD = r"/blobs/sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


@dataclass(frozen=True)
class Fault:
    name: str
    action: Action
    method: str
    path: str
    times: int
    status: int = 503
    retry_after: int | None = None
    seconds: float = 0.0
    after_forward: bool = False

    def install(self, proxy: FaultProxy) -> None:
        proxy.add_rule(
            self.action,
            method=self.method,
            path=self.path,
            times=self.times,
            status=self.status,
            retry_after=self.retry_after,
            seconds=self.seconds,
            after_forward=self.after_forward,
        )


STALL = TIMEOUT_SECONDS + 1.5  # longer than the client's read timeout

RETRIED = [
    Fault("503 x2 on resolve", "status", "GET", GET_BY_DIGEST, 2, 503),
    Fault("502 on tag index read", "status", "GET", TAG_INDEX, 1, 502),
    Fault("500 on signature manifest PUT", "status", "PUT", SIGNATURE_PUT, 1, 500),
    Fault("503 x3 on tag index PUT (whole budget)", "status", "PUT", TAG_INDEX, 3, 503),
    Fault("502 on blob upload start", "status", "POST", UPLOAD_START, 1, 502),
    Fault("500 on blob upload PUT", "status", "PUT", UPLOAD_SESSION, 1, 500),
    Fault("503 on HEAD of the {} config", "status", "HEAD", CONFIG_HEAD, 1, 503),
    Fault("429 Retry-After 1 on resolve", "status", "GET", GET_BY_DIGEST, 1, 429, retry_after=1),
    Fault("reset on resolve", "reset", "GET", GET_BY_DIGEST, 1),
    Fault("reset x2 on tag index PUT", "reset", "PUT", TAG_INDEX, 2),
    Fault("reset on blob upload PUT", "reset", "PUT", UPLOAD_SESSION, 1),
    Fault("stall past timeout on resolve", "stall", "GET", GET_BY_DIGEST, 1, seconds=STALL),
    Fault("stall past timeout on tag index read", "stall", "GET", TAG_INDEX, 1, seconds=STALL),
    Fault(
        "answer lost after signature PUT was stored",
        "status",
        "PUT",
        SIGNATURE_PUT,
        1,
        502,
        after_forward=True,
    ),
    Fault("reset after tag index PUT was stored", "reset", "PUT", TAG_INDEX, 1, after_forward=True),
]

BEYOND_BUDGET = [
    Fault("503 on every resolve", "status", "GET", GET_BY_DIGEST, 4, 503),
    Fault("502 on every request", "status", "", "", 100, 502),
    Fault("429 Retry-After 60 (too long to wait)", "status", "GET", GET_BY_DIGEST, 1, 429, 60),
    Fault("reset on every tag index read", "reset", "GET", TAG_INDEX, 4),
    Fault("stall on every resolve", "stall", "GET", GET_BY_DIGEST, 4, seconds=STALL),
    Fault("503 on every blob upload start", "status", "POST", UPLOAD_START, 4, 503),
    Fault("500 on every signature manifest PUT", "status", "PUT", SIGNATURE_PUT, 4, 500),
    Fault("503 on every tag index PUT", "status", "PUT", TAG_INDEX, 4, 503),
]


def _setup(
    proxied_app: MakeApp, proxy: FaultProxy, repository: str
) -> tuple[SignerApp, PushedImage]:
    app = proxied_app()
    image = app.pusher.push_image(repository, "v1")
    return app, image


def _event(
    proxy: FaultProxy, repository: str, image: PushedImage, event_id: str
) -> dict[str, object]:
    return push_event(proxy.host, repository, image.digest, size=image.size, event_id=event_id)


def assert_signed_once(app: SignerApp, repository: str, image: PushedImage) -> str:
    """Exactly one listed signature, accepted by the verifier; returns its digest."""
    signatures = app.signatures(repository, image.digest, image.size, image.media_type)
    assert len(signatures) == 1, signatures
    verdict = app.verify(repository, image.digest)
    assert verdict.verified, verdict.error
    return signatures[0].digest


@pytest.mark.parametrize("fault", RETRIED, ids=lambda f: f.name)
def test_fault_retried_within_budget_signs_on_first_delivery(
    proxied_app: MakeApp, registry_proxy: FaultProxy, repository_name: str, fault: Fault
) -> None:
    app, image = _setup(proxied_app, registry_proxy, repository_name)
    fault.install(registry_proxy)
    started = time.monotonic()

    app.deliver(_event(registry_proxy, repository_name, image, "evt-1"))  # no exception

    elapsed = time.monotonic() - started
    assert registry_proxy.count(outcome=fault.action) == fault.times, registry_proxy.seen
    assert registry_proxy.count(fault.method, fault.path) >= fault.times + 1  # retried
    if fault.retry_after:
        assert elapsed >= fault.retry_after * 0.9  # Retry-After was honoured
    signature = assert_signed_once(app, repository_name, image)
    [row] = app.history(image.digest)
    assert (row["status"], row["signatureDigest"], row["eventId"]) == ("signed", signature, "evt-1")


@pytest.mark.parametrize("fault", BEYOND_BUDGET, ids=lambda f: f.name)
def test_fault_beyond_budget_is_transient_and_redelivery_signs(
    proxied_app: MakeApp, registry_proxy: FaultProxy, repository_name: str, fault: Fault
) -> None:
    app, image = _setup(proxied_app, registry_proxy, repository_name)
    fault.install(registry_proxy)
    event = _event(registry_proxy, repository_name, image, "evt-1")
    started = time.monotonic()

    with pytest.raises(TransientError) as raised:  # the platform will deliver it again
        app.deliver(event)

    elapsed = time.monotonic() - started
    assert isinstance(raised.value, TransientRegistryError)
    assert raised.value.code == "registry_unavailable"
    if fault.retry_after and fault.retry_after > 10:
        assert registry_proxy.count(outcome="status") == 1  # not waited for, not retried
        assert "Retry-After 60s" in str(raised.value)
        assert elapsed < 5
    else:
        # bounded: one request tried 4 times (retries=3), then the delivery fails
        assert registry_proxy.count(outcome=fault.action) == 4, registry_proxy.seen
    # nothing listed yet: no half signature a verifier would see
    assert app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST) == []
    [failed] = app.history(image.digest)
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("transient, will be retried:")
    assert failed["eventId"] == "evt-1"

    registry_proxy.clear_rules()  # the outage ends; Event Grid redelivers the same event
    app.deliver(event)

    signature = assert_signed_once(app, repository_name, image)
    latest, earlier = app.history(image.digest)
    assert (latest["status"], latest["signatureDigest"]) == ("signed", signature)
    assert earlier["status"] == "failed"


def test_tag_index_put_failing_leaves_an_orphan_but_redelivery_signs_and_keeps_referrers(
    proxied_app: MakeApp, registry_proxy: FaultProxy, repository_name: str
) -> None:
    """Signature manifest stored, tag-schema index PUT failing: the half-written case."""
    app, image = _setup(proxied_app, registry_proxy, repository_name)
    sbom, _ = push_sbom_referrer(app.pusher, repository_name, image)
    registry_proxy.fail(503, method="PUT", path=TAG_INDEX, times=4)
    event = _event(registry_proxy, repository_name, image, "evt-half")

    with pytest.raises(TransientRegistryError, match="HTTP 503 after 4 attempts"):
        app.deliver(event)

    # the signature manifest went in before the index PUT failed: an orphan nobody lists
    stored = [
        s.path.rsplit("/", 1)[1]
        for s in registry_proxy.seen
        if s.method == "PUT" and "/manifests/sha256:" in s.path and s.status == 201
    ]
    assert len(stored) == 1
    orphan = stored[0]
    with app.client() as client:
        listed = client.list_referrers(repository_name, _descriptor(image)).descriptors
        assert [d.digest for d in listed] == [sbom.digest]  # index untouched
        assert client.resolve(repository_name, orphan).descriptor.digest == orphan  # exists

    registry_proxy.clear_rules()
    deliver_until_acknowledged(lambda: app.deliver(event))

    with app.client() as client:
        listing = client.list_referrers(repository_name, _descriptor(image))
    digests = [d.digest for d in listing.descriptors]
    assert sbom.digest in digests  # the earlier referrer survived the read-modify-write
    assert [d.artifact_type for d in listing.descriptors if d.digest == sbom.digest] == [SBOM_TYPE]
    [signature] = listing.signatures
    assert signature.digest != orphan  # a fresh signature; the orphan stays invisible
    assert orphan not in digests
    assert app.verify(repository_name, image.digest).verified
    assert [r["status"] for r in app.history(image.digest)] == ["signed", "failed"]


def test_tag_index_stored_but_answers_lost_then_redelivery_does_not_sign_twice(
    proxied_app: MakeApp, registry_proxy: FaultProxy, repository_name: str
) -> None:
    """Every index PUT reaches the registry, every answer is lost: transient, yet written."""
    app, image = _setup(proxied_app, registry_proxy, repository_name)
    sbom, _ = push_sbom_referrer(app.pusher, repository_name, image)
    registry_proxy.fail(502, method="PUT", path=TAG_INDEX, times=4, after_forward=True)
    event = _event(registry_proxy, repository_name, image, "evt-lost")

    with pytest.raises(TransientRegistryError):
        app.deliver(event)
    signature = assert_signed_once(app, repository_name, image)  # it is there already

    registry_proxy.clear_rules()
    app.deliver(event)

    assert assert_signed_once(app, repository_name, image) == signature  # not signed twice
    with app.client() as client:
        digests = [
            d.digest for d in client.list_referrers(repository_name, _descriptor(image)).descriptors
        ]
    assert sorted(digests) == sorted([sbom.digest, signature])
    latest, earlier = app.history(image.digest)
    assert latest["status"] == "skipped"
    assert "by the current certificate exists" in latest["reason"]
    assert earlier["status"] == "failed"


def test_index_push_with_children_survives_a_flaky_registry(
    proxied_app: MakeApp, registry_proxy: FaultProxy, repository_name: str
) -> None:
    """An image index and its two children: faults on the children's signing too."""
    app = proxied_app(SIGNER_SIGN_INDEX_CHILDREN="true")
    index, children = app.pusher.push_index(repository_name, "multi")
    registry_proxy.fail(503, method="PUT", path=TAG_INDEX, times=2)
    registry_proxy.reset(method="GET", path=GET_BY_DIGEST, times=2)
    event = push_event(
        registry_proxy.host, repository_name, index.digest, tag="multi", media_type=OCI_INDEX
    )
    deliver_until_acknowledged(lambda: app.deliver(event))
    for artifact in (index, *children):
        assert_signed_once(app, repository_name, artifact)


def _descriptor(image: PushedImage) -> Descriptor:
    return Descriptor(image.media_type, image.digest, image.size)


def test_cold_worker_concurrent_referrers_probe_does_not_fail_events(
    proxied_app: MakeApp, registry_proxy: FaultProxy, repository_name: str
) -> None:
    """Two events at once on a cold worker; the first referrers-API probe is slow.

    docker-registry has no referrers API: the probe answers 404 and the client falls back
    to the tag schema. The second probe's answer arrives first; the first one's 404 must
    still mean "no referrers API", not a permanent "unexpected answer" that drops its event.
    """
    app = proxied_app()
    images = [app.pusher.push_image(repository_name, f"v{i}") for i in range(2)]
    registry_proxy.delay(1.0, method="GET", path=r"/referrers/sha256:", times=1)
    errors: list[BaseException] = []

    def deliver(image: PushedImage, pause: float) -> None:
        time.sleep(pause)
        event = push_event(registry_proxy.host, repository_name, image.digest)
        try:
            app.handlers.on_event(event["id"], event["eventType"], event["data"])
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=deliver, args=(image, 0.3 * n)) for n, image in enumerate(images)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert registry_proxy.count(outcome="delay") == 1
    for image in images:
        [row] = app.history(image.digest)
        assert row["status"] == "signed", row["reason"]
        assert_signed_once(app, repository_name, image)


def test_loop_guard_read_failing_is_transient_and_redelivery_skips(
    proxied_app: MakeApp, registry_proxy: FaultProxy, repository_name: str
) -> None:
    """An untagged tag-schema index: the guard's read of its first entry fails, then works."""
    app = proxied_app(SIGNER_SIGN_UNTAGGED="true")
    image = app.pusher.push_image(repository_name, "v1")
    sbom, _ = push_sbom_referrer(app.pusher, repository_name, image)
    with app.client() as client:
        index = client.resolve(repository_name, "sha256-" + image.digest.split(":")[1]).descriptor
    registry_proxy.fail(503, method="GET", path=rf"/manifests/{sbom.digest}$", times=4)
    event = push_event(
        registry_proxy.host,
        repository_name,
        index.digest,
        tag=None,
        media_type=OCI_INDEX,
        event_id="evt-index",
    )

    with pytest.raises(TransientRegistryError):
        app.deliver(event)

    [failed] = app.history(index.digest)
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("transient, will be retried:")
    registry_proxy.clear_rules()
    app.deliver(event)

    skipped, _ = app.history(index.digest)
    assert (skipped["status"], skipped["eventId"]) == ("skipped", "evt-index")
    assert app.signatures(repository_name, index.digest, index.size, OCI_INDEX) == []


def test_blob_unknown_on_signature_put_is_sent_again_and_signs(
    proxied_app: MakeApp, registry_proxy: FaultProxy, repository_name: str
) -> None:
    """docker-registry can briefly not see a blob it accepted while another upload commits."""
    app, image = _setup(proxied_app, registry_proxy, repository_name)
    registry_proxy.fail(400, method="PUT", path=SIGNATURE_PUT, code="MANIFEST_BLOB_UNKNOWN")

    app.deliver(_event(registry_proxy, repository_name, image, "evt-1"))

    assert registry_proxy.count(outcome="status") == 1
    assert registry_proxy.count("PUT", SIGNATURE_PUT) == 2
    signature = assert_signed_once(app, repository_name, image)
    [row] = app.history(image.digest)
    assert (row["status"], row["signatureDigest"]) == ("signed", signature)


def test_blob_unknown_twice_is_transient_and_redelivery_signs(
    proxied_app: MakeApp, registry_proxy: FaultProxy, repository_name: str
) -> None:
    app, image = _setup(proxied_app, registry_proxy, repository_name)
    registry_proxy.fail(
        400, method="PUT", path=SIGNATURE_PUT, code="MANIFEST_BLOB_UNKNOWN", times=2
    )
    event = _event(registry_proxy, repository_name, image, "evt-1")

    with pytest.raises(TransientRegistryError, match="does not see content it has just"):
        app.deliver(event)
    app.deliver(event)

    assert_signed_once(app, repository_name, image)
    assert [r["status"] for r in app.history(image.digest)] == ["signed", "failed"]


def test_other_400_on_signature_put_is_permanent(
    proxied_app: MakeApp, registry_proxy: FaultProxy, repository_name: str
) -> None:
    app, image = _setup(proxied_app, registry_proxy, repository_name)
    registry_proxy.fail(400, method="PUT", path=SIGNATURE_PUT, code="MANIFEST_INVALID")

    event = _event(registry_proxy, repository_name, image, "evt-1")
    [result] = app.handlers.on_event(event["id"], event["eventType"], event["data"])

    assert (result.status, registry_proxy.count("PUT", SIGNATURE_PUT)) == ("failed", 1)
    assert "MANIFEST_INVALID" in result.reason
