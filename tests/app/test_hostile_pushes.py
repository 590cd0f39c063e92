"""Pushers and events that try to break the signer, through the function's real entry points.

Real parts: Debian's docker-registry, Azurite (ledger, leases), the host's event converter.
Every case must end with a ledger row and an acknowledged event (or a transient error
that a redelivery heals), and must never sign the wrong thing or skip what needs signing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scripts.sample_events import push_event
from shared import ledger as ledger_module
from shared.settings import Settings
from signer.certs import thumbprint
from signer.errors import ConfigurationError, TransientError
from signer.mediatypes import ANNOTATION_THUMBPRINTS, COSE_MEDIA_TYPE
from signer.models import Descriptor
from signer.registry.manifests import referrers_index, referrers_tag, signature_manifest
from signer.signers.local import load_pem_chain
from tests.plugins.app import SignerApp
from tests.servers.images import (
    OCI_INDEX,
    OCI_MANIFEST,
    PushedImage,
    compact,
    push_nested_manifest,
    sha256,
)

MakeApp = Callable[..., SignerApp]


def _event(app: SignerApp, repository: str, image: PushedImage, **extra: Any) -> dict[str, Any]:
    return push_event(app.registry_host, repository, image.digest, size=image.size, **extra)


def _our_leaf_thumbprint(app: SignerApp) -> str:
    return thumbprint(load_pem_chain(app.dev["chain"].read_bytes())[0])


def _push_fake_signature(app: SignerApp, repository: str, subject: PushedImage) -> str:
    """A referrer anyone with push rights can make: random bytes, our leaf's thumbprint."""
    envelope = b"not a signature at all"
    app.pusher.push_blob(repository, envelope)
    app.pusher.push_blob(repository, b"{}")
    manifest = signature_manifest(
        Descriptor.from_json(subject.descriptor()),
        Descriptor(COSE_MEDIA_TYPE, sha256(envelope), len(envelope)),
        {ANNOTATION_THUMBPRINTS: json.dumps([_our_leaf_thumbprint(app)])},
    )
    pushed = app.pusher.push_manifest(repository, sha256(manifest), manifest, OCI_MANIFEST)
    entry = {
        **pushed.descriptor(),
        "artifactType": "application/vnd.cncf.notary.signature",
        "annotations": {ANNOTATION_THUMBPRINTS: json.dumps([_our_leaf_thumbprint(app)])},
    }
    index = referrers_index([entry])
    app.pusher.push_manifest(repository, referrers_tag(subject.digest), index, OCI_INDEX)
    return pushed.digest


# --- finding 2: an annotation anyone can write must not block signing ------------------


def test_a_bogus_referrer_with_our_thumbprint_does_not_block_signing(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    fake = _push_fake_signature(app, repository_name, image)

    app.deliver(_event(app, repository_name, image))

    [row] = app.history(image.digest)
    assert row["status"] == "signed", row
    assert app.verify(repository_name, image.digest).verified
    listed = app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)
    assert fake in [d.digest for d in listed] and len(listed) == 2


def test_a_genuine_signature_is_recognised_within_the_request_budget(
    make_app: MakeApp, repository_name: str, docker_registry: Any
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    app.deliver(_event(app, repository_name, image))
    before = len(docker_registry.access_log(repository_name))

    app.deliver(_event(app, repository_name, image))

    assert app.history(image.digest)[0]["status"] == "skipped"
    served = docker_registry.access_log(repository_name)[before:]
    # GET manifest, GET tag index, GET signature manifest, GET envelope blob
    assert [(e.method, e.path.split("/")[-2]) for e in served] == [
        ("GET", "manifests"),
        ("GET", "manifests"),
        ("GET", "manifests"),
        ("GET", "blobs"),
    ]


# --- finding 3: the index written is the registry's current index plus the new entry ---


def _delete_like_oras(
    app: SignerApp, repository: str, subject: PushedImage, keep: list[str]
) -> None:
    """``oras manifest delete`` without the referrers API: rewrite the index, delete it."""
    tag = referrers_tag(subject.digest)
    current = json.loads(
        app.pusher.session.get(
            f"{app.pusher.base_url}/v2/{repository}/manifests/{tag}",
            headers={"Accept": OCI_INDEX},
            timeout=10,
        ).content
    )
    gone = [m["digest"] for m in current["manifests"] if m["digest"] not in keep]
    kept = [m for m in current["manifests"] if m["digest"] in keep]
    app.pusher.push_manifest(repository, tag, referrers_index(kept), OCI_INDEX)
    for digest in gone:
        answer = app.pusher.session.delete(
            f"{app.pusher.base_url}/v2/{repository}/manifests/{digest}", timeout=10
        )
        assert answer.status_code == 202


def test_a_deleted_signature_stays_deleted_and_a_re_sign_succeeds(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    app.deliver(_event(app, repository_name, image))
    [first] = app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)
    _delete_like_oras(app, repository_name, image, keep=[])

    status, body = app.http_sign({"reference": f"{app.registry_host}/{repository_name}:v1"})

    assert status == 200, body
    listed = [
        d.digest for d in app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)
    ]
    assert first.digest not in listed and len(listed) == 1
    assert app.verify(repository_name, image.digest).verified


def test_an_index_naming_a_deleted_manifest_is_repaired_not_retried_for_ever(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    app.deliver(_event(app, repository_name, image))
    [first] = app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)
    # the manifest is deleted but the index still lists it (a half-done delete)
    app.pusher.session.delete(
        f"{app.pusher.base_url}/v2/{repository_name}/manifests/{first.digest}", timeout=10
    ).raise_for_status()

    status, body = app.http_sign({"reference": f"{app.registry_host}/{repository_name}:v1"})

    assert status == 200, body
    listed = [
        d.digest for d in app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)
    ]
    assert listed == [body["results"][0]["signatureDigest"]]


# --- finding 4: no write once the lock may be lost ------------------------------------


class _Clock:
    """The ledger module's clock, with a jump: what a frozen VM sees when it thaws."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def test_a_worker_paused_past_its_lease_writes_nothing(
    make_app: MakeApp, repository_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first worker lists, then freezes for 70 s; meanwhile a second worker (its clock
    past the first one's 60 s lock) takes the lock over and signs. The first one thaws:
    its fence finds the lock taken and nothing is written: one signature, never two."""
    clock = _Clock()
    monkeypatch.setattr(ledger_module, "time", clock)
    first = make_app()
    second = make_app()
    second.handlers.ledger.clock = lambda: datetime.now(UTC) + timedelta(seconds=70)
    image = first.pusher.push_image(repository_name, "v1")
    event = _event(first, repository_name, image)
    registry = first.handlers.service.registry
    listed = registry.list_referrers

    def list_then_freeze(*args: Any, **kwargs: Any) -> Any:
        result = listed(*args, **kwargs)
        with monkeypatch.context() as thawed:  # the other worker's clock is not frozen
            thawed.setattr(ledger_module, "time", time)
            second.handlers.on_event(event["id"], event["eventType"], event["data"])
        clock.offset += 70.0
        return result

    monkeypatch.setattr(registry, "list_referrers", list_then_freeze)
    with pytest.raises(TransientError, match="nothing is written"):
        first.handlers.on_event(event["id"], event["eventType"], event["data"])

    signatures = first.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)
    assert len(signatures) == 1  # the second worker's, and no other
    assert sorted(r["status"] for r in first.history(image.digest)) == ["failed", "signed"]


# --- finding 5: ordinary pushes that used to crash the handler ---------------------------


def test_a_deeply_nested_manifest_is_a_recorded_failure(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app(SIGNER_SIGN_UNTAGGED="true")
    image = push_nested_manifest(app.pusher, repository_name)
    app.deliver(_event(app, repository_name, image, tag=None))  # acknowledged: no exception
    [row] = app.history(image.digest)
    assert row["status"] == "failed" and "nested too deeply" in row["reason"]


def test_malformed_index_children_are_recorded_and_the_valid_ones_signed(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app(SIGNER_SIGN_INDEX_CHILDREN="true")
    good = app.pusher.push_image(repository_name, layer_text="good child\n")
    crlf = app.pusher.push_image(repository_name, layer_text="crlf child\n")
    bare = app.pusher.push_image(repository_name, layer_text="bare child\n")
    entries = [
        {**good.descriptor(), "platform": {"architecture": "amd64", "os": "linux"}},
        {**crlf.descriptor(), "mediaType": OCI_MANIFEST + "\r\nX-Injected: 1"},
        {"digest": bare.digest, "size": bare.size},
    ]
    body = compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    index = app.pusher.push_manifest(repository_name, "multi", body, OCI_INDEX)

    app.deliver(_event(app, repository_name, index, tag="multi", media_type=OCI_INDEX))

    assert app.verify(repository_name, index.digest).verified
    assert app.verify(repository_name, good.digest).verified
    assert not app.verify(repository_name, crlf.digest).verified
    failed = [r for r in app.history(index.digest) if r["status"] == "failed"]
    assert len(failed) == 2
    assert any("entry 1" in r["reason"] for r in failed)
    assert any("entry 2" in r["reason"] and "mediaType" in r["reason"] for r in failed)


# --- finding 7: values that pass validation, then crash -----------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("expiry", "3000000d", "longer than the longest duration"),
        ("expiry", "1000000000d", "longer than the longest duration"),
        ("expiry", "9" * 5000 + "h", "not a duration"),
        ("userMetadata", {"env": "\ud800"}, "not valid text"),
        ("userMetadata", {"\udcff": "x"}, "not valid text"),
    ],
)
def test_sign_request_values_that_cannot_be_signed_are_400(
    make_app: MakeApp, repository_name: str, field: str, value: Any, message: str
) -> None:
    app = make_app()
    body = json.dumps({"reference": f"{app.registry_host}/{repository_name}:v1", field: value})
    status, answer = app.http_sign(body.encode())
    assert status == 400, answer
    assert message in answer["error"]["message"]
    assert json.dumps(field) in answer["error"]["message"]


@pytest.mark.parametrize("expiry", ["3000000d", "1000000000d", "9" * 5000 + "h"])
def test_an_expiry_setting_that_cannot_be_signed_stops_start_up(expiry: str) -> None:
    env = {
        "SIGNER_REGISTRY": "myreg.azurecr.io",
        "SIGNER_KEY_ID": "https://myvault.vault.azure.net/keys/notary",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "SIGNER_EXPIRY": expiry,
    }
    with pytest.raises(ConfigurationError, match="SIGNER_EXPIRY"):
        Settings.from_env(env)


# --- finding 11: status is per artifact, not per digest -------------------------------------


def test_status_of_an_unsigned_copy_in_another_repository_is_unknown(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    copy = app.pusher.push_image(
        repository_name + "-copy", "v1", layer_text=f"layer of {repository_name}:v1\n"
    )
    assert copy.digest == image.digest  # the same bytes, another repository
    app.deliver(_event(app, repository_name, image))

    signed_status, signed = app.http_status(f"{app.registry_host}/{repository_name}:v1")
    copy_status, unsigned = app.http_status(f"{app.registry_host}/{repository_name}-copy:v1")

    assert signed_status == 200 and signed["status"] == "signed"
    assert copy_status == 404 and unsigned["status"] == "unknown" and unsigned["history"] == []


# --- finding 15: type and action disagree -------------------------------------------------


def test_an_image_pushed_event_that_says_delete_is_rejected(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    event = _event(app, repository_name, image)
    event["data"]["action"] = "delete"

    app.deliver(event)  # acknowledged

    assert app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST) == []
    [row] = app.history("invalid-event")
    assert row["status"] == "failed" and "contradicts the event type" in row["reason"]
