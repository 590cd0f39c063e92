"""The signing service: one request in, one typed outcome out.

resolve -> loop guard -> idempotency -> payload -> envelope -> self-verify -> push,
after notation-go's ``SignOCI``. The registry's own descriptor is what gets
signed, never the caller's guess, and nothing is pushed that our own strict
checks would reject.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from signer import SIGNING_AGENT
from signer.certs import thumbprint, thumbprints, validate_chain
from signer.envelope import build_envelope, parse_envelope, verify_envelope_signature
from signer.errors import (
    InvalidReferenceError,
    NotFoundError,
    PermanentError,
    SignatureVerificationError,
)
from signer.locking import SubjectLock, no_lock
from signer.mediatypes import (
    ANNOTATION_CREATED,
    ANNOTATION_THUMBPRINTS,
    COSE_MEDIA_TYPE,
    INDEX_MEDIA_TYPES,
    JWS_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPES,
)
from signer.models import Descriptor, Signed, SignOutcome, SignRequest, Skipped
from signer.payload import build_payload, go_json, parse_payload
from signer.policy import first_listed_artifact, is_referrers_tag, signature_artifact_reason
from signer.registry import ReferrerList, RegistryClient, signature_layer
from signer.signers.base import Signer
from signer.verifier.envelopes import parse as parse_signature
from signer.verifier.envelopes import verify_integrity

ENVELOPE_MEDIA_TYPES = (COSE_MEDIA_TYPE, JWS_MEDIA_TYPE)

#: candidates (signatures annotated with our leaf) checked before deciding "already signed":
#: each costs two reads, and anyone with push rights can add annotated bogus ones
MAX_IDEMPOTENCY_CANDIDATES = 3


class Registry(Protocol):
    """What the service needs from a registry client (``signer.registry.RegistryClient``)."""

    def resolve(self, repository: str, reference: str) -> Any: ...

    def fetch_manifest(self, repository: str, descriptor: Descriptor) -> bytes: ...

    def list_referrers(self, repository: str, subject: Descriptor) -> ReferrerList: ...

    def fetch_blob(self, repository: str, descriptor: Descriptor) -> bytes: ...

    def push_signature(
        self,
        repository: str,
        subject: Descriptor,
        envelope: bytes,
        envelope_media_type: str,
        annotations: Mapping[str, str],
        *,
        fence: Callable[[], None],
    ) -> Any: ...


def leaf_thumbprint_of(signature: Descriptor) -> str | None:
    """The leaf thumbprint from a signature descriptor's annotation, if readable."""
    raw = (signature.annotations or {}).get(ANNOTATION_THUMBPRINTS)
    if not raw:
        return None
    try:
        values = json.loads(raw)
    except ValueError:
        return None
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0].lower()
    return None


class SigningService:
    def __init__(
        self,
        *,
        registry: Registry | RegistryClient,
        signer: Signer,
        lock: SubjectLock = no_lock,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        signing_agent: str = SIGNING_AGENT,
    ) -> None:
        self._registry = registry
        self._signer = signer
        self._lock = lock
        self._clock = clock
        self._agent = signing_agent

    @property
    def signer(self) -> Signer:
        return self._signer

    def resolve(self, request: SignRequest) -> tuple[Descriptor, Mapping[str, Any]]:
        resolved = self._registry.resolve(request.repository, request.reference)
        return resolved.descriptor, resolved.manifest

    def sign(self, request: SignRequest) -> SignOutcome:
        """Sign what ``request`` names; Skipped when there is nothing to do."""
        subject, manifest = self.resolve(request)
        guard = self.loop_guard(request, subject, manifest)
        if guard is not None:
            return guard
        return self.sign_descriptor(request, subject)

    def loop_guard(
        self, request: SignRequest, subject: Descriptor, manifest: Mapping[str, Any]
    ) -> Skipped | None:
        """Skip our own kind: signatures, referrers of any kind, tag-schema indexes."""
        if is_referrers_tag(request.tag):
            return Skipped(
                subject, "is_referrers_index", f"tag {request.tag} is a referrers tag-schema index"
            )
        reason = signature_artifact_reason(manifest)
        if reason is not None:
            return Skipped(subject, "is_signature", f"artifact is a signature: {reason}")
        if "subject" in manifest:
            return Skipped(
                subject, "is_referrer", "artifact refers to another artifact (it has a subject)"
            )
        return self._untagged_referrers_index(request, subject, manifest)

    def _untagged_referrers_index(
        self, request: SignRequest, subject: Descriptor, manifest: Mapping[str, Any]
    ) -> Skipped | None:
        """A tag-schema index pushed without its tag (or an earlier one the tag moved off).

        Only an index shaped like a referrers list costs the one extra read. A listed
        artifact with a ``subject``, or one deleted since, means a referrers list: not
        signed. A transient failure is raised (the event is retried); an entry that cannot
        be read for another reason proves nothing, and the index is signed like any other.
        """
        if subject.media_type not in INDEX_MEDIA_TYPES:
            return None
        first = first_listed_artifact(manifest)
        if first is None:
            return None
        of: str | None = None
        try:
            body = self._registry.fetch_manifest(request.repository, first)
        except NotFoundError:
            pass  # a listed referrer deleted since: still not an image to sign
        except PermanentError:
            return None
        else:
            try:
                entry = json.loads(body)
            except ValueError:
                return None
            referred = entry.get("subject") if isinstance(entry, dict) else None
            if not isinstance(referred, Mapping):
                return None  # an index of artifacts a user pushed: signed like any other
            of = referred.get("digest") if isinstance(referred.get("digest"), str) else None
        return Skipped(
            subject,
            "is_referrers_index",
            f"image index lists only referrers{f' of {of}' if of else ''} "
            "(a referrers tag-schema index)",
        )

    def sign_descriptor(self, request: SignRequest, subject: Descriptor) -> SignOutcome:
        chain = self._signer.certificate_chain()
        thumbs = thumbprints(chain)
        key = f"{request.registry}/{request.repository}@{subject.digest}"
        with self._lock(key) as hold:
            referrers = self._registry.list_referrers(request.repository, subject)
            if not request.force:
                existing = self._existing_signature(request, subject, referrers, chain[0])
                if existing is not None:
                    return Skipped(
                        subject,
                        "already_signed",
                        f"signature {existing.digest} by the current certificate exists",
                    )
            envelope, signing_time = self._envelope(request, subject, chain)
            annotations = {
                ANNOTATION_THUMBPRINTS: go_json(thumbs),
                ANNOTATION_CREATED: signing_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            pushed = self._registry.push_signature(
                request.repository,
                subject,
                envelope,
                COSE_MEDIA_TYPE,
                annotations,
                fence=hold.ensure_held,
            )
        return Signed(
            subject=subject,
            signature=pushed.descriptor,
            certificate_thumbprints=tuple(thumbs),
            referrers_api=pushed.referrers_api,
        )

    def _existing_signature(
        self,
        request: SignRequest,
        subject: Descriptor,
        referrers: ReferrerList,
        leaf: x509.Certificate,
    ) -> Descriptor | None:
        """A listed signature that really is a valid one by ``leaf`` over ``subject``, or None.

        The thumbprint annotation picks the candidates (it costs nothing to read), but anyone
        who can push may write it on a bogus referrer: a candidate counts only when its
        envelope verifies, its leaf is ours, its payload pins this subject with the requested
        metadata, and it has not expired. A candidate that is gone or garbage does not count.
        """
        ours = thumbprint(leaf)
        candidates = [d for d in referrers.signatures if leaf_thumbprint_of(d) == ours]
        for candidate in candidates[:MAX_IDEMPOTENCY_CANDIDATES]:
            what = f"signature manifest {request.repository}@{candidate.digest}"
            try:
                layer = signature_layer(
                    self._registry.fetch_manifest(request.repository, candidate), what
                )
                if layer.media_type not in ENVELOPE_MEDIA_TYPES:
                    continue
                blob = self._registry.fetch_blob(request.repository, layer)
            except PermanentError:
                continue  # deleted since the listing, or not a signature at all
            if genuine_signature(blob, layer.media_type, subject, leaf, request.user_metadata):
                return candidate
        return None

    def _envelope(
        self, request: SignRequest, subject: Descriptor, chain: Sequence[x509.Certificate]
    ) -> tuple[bytes, datetime]:
        signing_time = self._clock().astimezone(UTC).replace(microsecond=0)
        expiry = signing_time + request.expiry if request.expiry else None
        payload = build_payload(subject.plain(), request.user_metadata or None)
        envelope = build_envelope(
            payload,
            self._signer,
            signing_time=signing_time,
            expiry=expiry,
            signing_agent=self._agent,
            chain=chain,
        )
        self_verify(envelope, subject, request.user_metadata)
        return envelope, signing_time

    def index_children(
        self, manifest: Mapping[str, Any], subject: Descriptor
    ) -> tuple[list[Descriptor], list[str]]:
        """Child manifests of an image index (platform images, not attestations), and a
        description of each entry that is not a usable descriptor (those are not signed,
        and do not stop the others from being signed)."""
        if subject.media_type not in INDEX_MEDIA_TYPES:
            return [], []
        entries = manifest.get("manifests")
        if not isinstance(entries, list):
            return [], (
                []
                if entries is None
                else [f"image index {subject.digest}: 'manifests' is not a list"]
            )
        children: list[Descriptor] = []
        problems: list[str] = []
        for n, entry in enumerate(entries):
            try:
                child = Descriptor.from_json(entry)
            except InvalidReferenceError as exc:
                problems.append(f"image index {subject.digest}, entry {n}: {exc}")
                continue
            if child.media_type not in MANIFEST_MEDIA_TYPES:
                problems.append(
                    f"image index {subject.digest}, entry {n}: {child.digest} is a "
                    f"{child.media_type[:100]!r}, not a manifest"
                )
                continue
            # buildx attestation manifests ride along in indexes; they are not images
            if (child.annotations or {}).get("vnd.docker.reference.type"):
                continue
            children.append(child)
        return children, problems


def genuine_signature(
    blob: bytes,
    media_type: str,
    subject: Descriptor,
    leaf: x509.Certificate,
    user_metadata: Mapping[str, str],
    *,
    now: datetime | None = None,
) -> bool:
    """True when ``blob`` is a valid, unexpired signature by ``leaf`` over ``subject``."""
    try:
        envelope = parse_signature(media_type, blob)
        verify_integrity(envelope)
        target = parse_payload(envelope.payload)
    except PermanentError:
        return False
    if envelope.chain[0].public_bytes(Encoding.DER) != leaf.public_bytes(Encoding.DER):
        return False
    if target.plain() != subject.plain():
        return False
    annotations = target.annotations or {}
    if any(annotations.get(k) != v for k, v in user_metadata.items()):
        return False
    moment = now or datetime.now(UTC)
    return envelope.expiry is None or moment < envelope.expiry


def self_verify(envelope: bytes, subject: Descriptor, user_metadata: Mapping[str, str]) -> None:
    """Check our own output the way a strict verifier will, before it leaves the process."""
    parsed = parse_envelope(envelope)
    verify_envelope_signature(parsed)
    validate_chain(parsed.chain, signing_time=parsed.signing_time)
    target = parse_payload(parsed.payload)
    if target.plain() != subject.plain():
        raise SignatureVerificationError("self-check: payload does not pin the subject descriptor")
    if dict(target.annotations or {}) != dict(user_metadata):
        raise SignatureVerificationError("self-check: payload annotations differ from the request")
