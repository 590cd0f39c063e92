"""Fetch the signature envelopes that refer to an artifact (for verify and inspect)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from signer.errors import RegistryError
from signer.models import Descriptor
from signer.reference import Reference
from signer.registry import RegistryClient
from signer.verifier import ArtifactVerification, SignatureBlob, Verifier

#: notation tries at most this many signatures per artifact (its default)
MAX_SIGNATURES = 100


@dataclass(frozen=True)
class FetchedSignature:
    manifest: Descriptor  # the signature manifest
    envelope: bytes
    media_type: str  # application/cose or application/jose+json


def fetch_signatures(
    client: RegistryClient,
    repository: str,
    subject: Descriptor,
    *,
    limit: int = MAX_SIGNATURES,
) -> list[FetchedSignature]:
    """Every Notary signature of ``subject`` (at most ``limit``), blobs digest-checked."""
    out: list[FetchedSignature] = []
    for descriptor in client.list_referrers(repository, subject).signatures[:limit]:
        content = client.fetch_manifest(repository, descriptor)
        try:
            manifest = json.loads(content)
            layers = manifest["layers"]
            if not isinstance(layers, list) or len(layers) != 1:
                raise RegistryError(
                    f"signature manifest {descriptor.digest} must have exactly one layer"
                )
            layer = Descriptor.from_json(layers[0])
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(
                f"signature manifest {descriptor.digest} is malformed: {exc}"
            ) from None
        out.append(
            FetchedSignature(descriptor, client.fetch_blob(repository, layer), layer.media_type)
        )
    return out


def verify_reference(
    client: RegistryClient,
    reference: Reference,
    verifier: Verifier,
    user_metadata: Mapping[str, str] | None = None,
) -> tuple[Descriptor, ArtifactVerification]:
    """Resolve ``reference`` and verify its signatures as ``notation verify`` would."""
    subject = client.resolve(reference.repository, reference.target).descriptor
    blobs = (
        SignatureBlob(s.envelope, s.media_type, s.manifest.digest)
        for s in fetch_signatures(client, reference.repository, subject)
    )
    pinned = reference.with_digest(subject.digest)
    return subject, verifier.verify_signatures(pinned, subject, blobs, user_metadata or {})
