"""Fetching an artifact's signatures for verify and inspect: lazily, bounded, one by one.

Issue 9, finding 9: verify loaded every signature blob before checking the first (99
referrers sharing one 32 MiB blob took 3.2 GB). And a signature the registry cannot give
(a malformed manifest, a blob over the cap) fails alone instead of ending the walk.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from signer.envelope import build_envelope
from signer.mediatypes import COSE_MEDIA_TYPE, OCI_MANIFEST
from signer.models import Descriptor
from signer.payload import build_payload
from signer.reference import Reference
from signer.registry import MAX_BLOB_SIZE, AnonymousAuth, RegistryClient
from signer.registry.manifests import signature_manifest
from signer.signatures import fetch_signatures, verify_reference
from signer.signers.local import LocalSigner
from signer.verifier import Verifier
from tests.servers.images import ImagePusher, PushedImage, sha256
from tests.servers.oci_registry import BLOB, OciRegistry
from tests.servers.olareg import Olareg
from tests.verifier import hostile, pki

KEY = hostile.signing_key()
LEAF = pki.certificate(KEY, pki.name("Fetch Test"))
STRANGER_KEY = hostile.signing_key("p256")
STRANGER = pki.certificate(STRANGER_KEY, pki.name("Stranger"))


def _signature(image: PushedImage, key: Any = KEY, leaf: Any = LEAF, pad: int = 0) -> bytes:
    subject = Descriptor(image.media_type, image.digest, image.size)
    annotations = {"padding": "x" * pad} if pad else None
    return build_envelope(
        build_payload(subject, annotations),
        LocalSigner(key, [leaf]),
        signing_time=hostile.SIGNING_TIME,
    )


def _push_signature(
    pusher: ImagePusher,
    repository: str,
    image: PushedImage,
    envelope: bytes,
    *,
    note: str = "",
    size: int | None = None,
) -> str:
    """A signature manifest (as notation pushes one) for ``envelope``; returns its digest."""
    subject = Descriptor(image.media_type, image.digest, image.size)
    digest = pusher.push_blob(repository, envelope)
    pusher.push_blob(repository, b"{}")
    layer = Descriptor(COSE_MEDIA_TYPE, digest, size if size is not None else len(envelope))
    manifest = signature_manifest(subject, layer, {"note": note} if note else {})
    return pusher.push_manifest(repository, sha256(manifest), manifest, OCI_MANIFEST).digest


def _verifier(tmp_path: Path, **kwargs: Any) -> Verifier:
    pki.write_store(tmp_path, "test-root", [LEAF])
    return Verifier(pki.policy(scopes=("*",), identities=("*",)), tmp_path, **kwargs)


def _reference(host: str, repository: str, image: PushedImage) -> Reference:
    return Reference.parse(f"{host}/{repository}@{image.digest}")


def test_signatures_are_fetched_one_at_a_time(
    oci_registry: OciRegistry, repository_name: str, tmp_path: Path
) -> None:
    pusher = ImagePusher(oci_registry.url)
    image = pusher.push_image(repository_name, "v1")
    stranger = _signature(image, STRANGER_KEY, STRANGER)
    for n in range(3):
        _push_signature(pusher, repository_name, image, stranger, note=str(n))
    _push_signature(pusher, repository_name, image, _signature(image))
    for n in range(3):  # after the good one: never fetched
        _push_signature(pusher, repository_name, image, stranger, note=f"late {n}")

    events: list[str] = []
    verifier = _verifier(tmp_path, now=lambda: pki.NOW)
    real_verify = verifier.verify_signature
    with RegistryClient(oci_registry.host, auth=AnonymousAuth(), insecure=True) as client:
        real_fetch = client.fetch_blob

        def fetch_blob(*args: Any, **kwargs: Any) -> bytes:
            events.append("fetch")
            return real_fetch(*args, **kwargs)

        def verify_signature(*args: Any, **kwargs: Any) -> Any:
            events.append("verify")
            return real_verify(*args, **kwargs)

        client.fetch_blob = fetch_blob  # type: ignore[method-assign]
        verifier.verify_signature = verify_signature  # type: ignore[method-assign]
        _, result = verify_reference(
            client, _reference(oci_registry.host, repository_name, image), verifier
        )
    assert result.status == "verified", result.error
    listed = [o.status for o in result.outcomes]
    # the order of referrers is the registry's; whatever it is, nothing after the first
    # verified signature is fetched, and each blob is fetched only when it is verified
    assert listed[-1] == "verified" and set(listed[:-1]) <= {"failed"}
    assert events == ["fetch", "verify"] * len(listed)
    # a failed signature's verdict does not hold on to its envelope or payload
    assert all(o.envelope is None and o.target is None for o in result.outcomes[:-1])
    assert result.outcomes[-1].envelope is not None


def test_a_signature_the_registry_cannot_give_fails_alone(
    oci_registry: OciRegistry, repository_name: str, tmp_path: Path
) -> None:
    pusher = ImagePusher(oci_registry.url)
    image = pusher.push_image(repository_name, "v1")
    subject = Descriptor(image.media_type, image.digest, image.size)
    good = _signature(image)
    two_layers = json.loads(
        signature_manifest(subject, Descriptor(COSE_MEDIA_TYPE, sha256(good), len(good)), {})
    )
    two_layers["layers"] *= 2
    oci_registry.put_raw_manifest(
        repository_name,
        sha256(json.dumps(two_layers).encode()),
        json.dumps(two_layers).encode(),
        OCI_MANIFEST,
    )
    # a layer that claims more than the cap: refused before any byte is downloaded
    _push_signature(pusher, repository_name, image, b"tiny", size=MAX_BLOB_SIZE + 1)
    _push_signature(pusher, repository_name, image, good)

    verifier = _verifier(tmp_path, now=lambda: pki.NOW)
    with RegistryClient(oci_registry.host, auth=AnonymousAuth(), insecure=True) as client:
        fetched = list(fetch_signatures(client, repository_name, subject))
        oci_registry.clear_requests()
        _, result = verify_reference(
            client, _reference(oci_registry.host, repository_name, image), verifier
        )
    errors = sorted(str(f.error) for f in fetched if f.error)
    assert len(fetched) == 3 and len(errors) == 2
    assert any("exactly one layer" in e for e in errors)
    assert any(f"the limit is {MAX_BLOB_SIZE}" in e for e in errors)
    assert result.status == "verified", result.error
    assert oci_registry.count("GET", BLOB) <= 1  # only the good blob, never the oversized one


def test_memory_holds_one_blob_however_many_referrers_share_it(
    olareg: Olareg, repository_name: str, tmp_path: Path
) -> None:
    """Many referrers of one large blob: memory stays at a few blobs, not one per referrer.

    olareg runs in its own process, so tracemalloc sees only this process's allocations.
    """
    pusher = ImagePusher(olareg.url)
    image = pusher.push_image(repository_name, "v1")
    blob = _signature(image, STRANGER_KEY, STRANGER, pad=2 * 1024 * 1024)  # fails authenticity
    count = 32
    for n in range(count):
        _push_signature(pusher, repository_name, image, blob, note=str(n))
    verifier = _verifier(tmp_path, now=lambda: pki.NOW)
    gc.collect()
    tracemalloc.start()
    try:
        with RegistryClient(olareg.host, auth=AnonymousAuth(), insecure=True) as client:
            _, result = verify_reference(
                client, _reference(olareg.host, repository_name, image), verifier
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "failed" and len(result.outcomes) == count
    # Before the fix every blob was held at once: peak > count * len(blob). Checking one
    # signature takes several transient copies (body, decoded payload, signed bytes),
    # whatever the count; half the count is far above that and far below the old peak.
    assert peak < count // 2 * len(blob), f"{peak / 2**20:.0f} MiB for {count} x {len(blob)} B"


@pytest.mark.parametrize("limit", [1, 3])
def test_at_most_max_signatures_are_fetched(
    oci_registry: OciRegistry, repository_name: str, tmp_path: Path, limit: int
) -> None:
    pusher = ImagePusher(oci_registry.url)
    image = pusher.push_image(repository_name, "v1")
    stranger = _signature(image, STRANGER_KEY, STRANGER)
    for n in range(5):
        _push_signature(pusher, repository_name, image, stranger, note=str(n))
    verifier = _verifier(tmp_path, now=lambda: pki.NOW, max_signatures=limit)
    with RegistryClient(oci_registry.host, auth=AnonymousAuth(), insecure=True) as client:
        oci_registry.clear_requests()
        _, result = verify_reference(
            client, _reference(oci_registry.host, repository_name, image), verifier
        )
    assert len(result.outcomes) == limit
    assert oci_registry.count("GET", BLOB) == limit
    assert "limit of" in str(result.error)
