"""Fetch the signature envelopes that refer to an artifact (for verify and inspect).

One at a time: a signature's manifest and blob are fetched only when the caller asks for
the next one, so memory holds one blob (at most MAX_BLOB_SIZE, checked against the
descriptor before the download) however many referrers there are, and verification
stops fetching at the first signature that passes, as notation does. A signature the
registry cannot give us (manifest malformed or gone, blob too large or corrupt) is
reported as that signature's failure; only a transient registry error ends the walk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from signer.errors import PermanentError, RegistryError
from signer.models import Descriptor
from signer.reference import Reference
from signer.registry import MAX_BLOB_SIZE, Registry
from signer.untrusted import untrusted
from signer.verifier import MAX_SIGNATURES, ArtifactVerification, SignatureBlob, Verifier
from signer.verifier.envelopes import PARSERS


@dataclass(frozen=True)
class FetchedSignature:
    manifest: Descriptor  # the signature manifest
    envelope: bytes  # empty when ``error`` is set
    media_type: str  # application/cose or application/jose+json
    error: str | None = None  # why the registry gave no usable envelope

    def blob(self) -> SignatureBlob:
        return SignatureBlob(self.envelope, self.media_type, self.manifest.digest, self.error)


def _envelope_layer(content: bytes, digest: str) -> Descriptor:
    what = f"signature manifest {digest}"
    with untrusted(f"{what} is malformed", RegistryError):
        manifest = json.loads(content)
        layers = manifest["layers"]
        if not isinstance(layers, list) or len(layers) != 1:
            raise RegistryError(f"{what} must have exactly one layer")
        return Descriptor.from_json(layers[0])


def _fetch(client: Registry, repository: str, descriptor: Descriptor) -> FetchedSignature:
    try:
        layer = _envelope_layer(client.fetch_manifest(repository, descriptor), descriptor.digest)
        if layer.media_type not in PARSERS:  # not worth downloading: no parser would read it
            return FetchedSignature(
                descriptor,
                b"",
                layer.media_type,
                f"signature envelope media type {layer.media_type!r} is not supported",
            )
        envelope = client.fetch_blob(repository, layer, max_size=MAX_BLOB_SIZE)
    except PermanentError as exc:  # this signature only; TransientError ends the walk
        return FetchedSignature(descriptor, b"", "", f"cannot fetch the signature: {exc}")
    return FetchedSignature(descriptor, envelope, layer.media_type)


def fetch_signatures(
    client: Registry,
    repository: str,
    subject: Descriptor,
    *,
    limit: int = MAX_SIGNATURES,
) -> Iterator[FetchedSignature]:
    """The Notary signatures of ``subject`` (at most ``limit``), fetched lazily, one by one."""
    for descriptor in client.list_referrers(repository, subject).signatures[:limit]:
        yield _fetch(client, repository, descriptor)


def verify_reference(
    client: Registry,
    reference: Reference,
    verifier: Verifier,
    user_metadata: Mapping[str, str] | None = None,
) -> tuple[Descriptor, ArtifactVerification]:
    """Resolve ``reference`` and verify its signatures as ``notation verify`` would."""
    subject = client.resolve(reference.repository, reference.target).descriptor
    pinned = reference.with_digest(subject.digest)
    if verifier.policy_for(pinned).is_skip:  # notation lists no signature at level skip
        return subject, verifier.verify_signatures(pinned, subject, (), user_metadata or {})
    signatures = fetch_signatures(
        client, reference.repository, subject, limit=verifier.max_signatures
    )
    blobs = map(FetchedSignature.blob, signatures)  # holds no reference to the last one
    return subject, verifier.verify_signatures(pinned, subject, blobs, user_metadata or {})
