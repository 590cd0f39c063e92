"""The signing service: one request in, the whole attempt, typed outcomes out.

resolve -> loop guard -> lock and idempotency -> payload -> envelope -> self-verify ->
push (and the children of an index, when asked), after notation-go's ``SignOCI``. The
registry's own descriptor is what gets signed, never the caller's guess, and nothing is
pushed that our own strict checks would reject. Progress is reported to a ``Journal``
(the app's ledger and lock; nothing for the CLI).

The critical path of one push event, with the referrers API (each line one round trip):

1. GET manifest               | and, for a tagged push by digest, the journal's start
                              | (ledger row + subject lock in one Storage call)
2. GET referrers (idempotency)| and the Key Vault sign call, made speculatively
                              | (then, with a TSA, its timestamp: one more round trip,
                              | as the timestamp is over the signature value), then the
                              | envelope assembled and self-verified on the same thread
3. POST envelope blob
4. PUT signature manifest
5. the journal's finish       (ledger row + lock release in one Storage call)

A speculative signature that turns out not to be needed (the artifact was signed
already) is discarded unseen; it costs one Key Vault operation (and one TSA request) on
duplicate deliveries and saves a round trip on every first one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from signer import SIGNING_AGENT, loopguard
from signer.certs import thumbprint, thumbprints, validate_chain
from signer.envelope import (
    UnsignedEnvelope,
    parse_envelope,
    prepare_envelope,
    verify_envelope_signature,
)
from signer.errors import (
    InternalError,
    InvalidReferenceError,
    PermanentError,
    SignatureVerificationError,
    SignerError,
    TransientError,
)
from signer.journal import NULL_JOURNAL, Attempt, Journal
from signer.mediatypes import (
    ANNOTATION_CREATED,
    ANNOTATION_THUMBPRINTS,
    COSE_MEDIA_TYPE,
    HEADER_TIMESTAMP_SIGNATURE,
    INDEX_MEDIA_TYPES,
    JWS_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPES,
)
from signer.models import (
    Countersignature,
    Descriptor,
    Failed,
    Outcome,
    Signed,
    SignRequest,
    Skipped,
)
from signer.payload import build_payload, go_json, parse_payload, read_payload
from signer.registry import ReferrerList, Registry, signature_layer
from signer.signers.base import Signer, SigningKey
from signer.verifier.envelopes import parse as parse_signature
from signer.verifier.envelopes import verify_integrity

if TYPE_CHECKING:
    from signer.timestamp import Timestamp, Timestamper

log = logging.getLogger("signer")

ENVELOPE_MEDIA_TYPES = (COSE_MEDIA_TYPE, JWS_MEDIA_TYPE)
#: candidates (signatures annotated with our leaf) checked before deciding "already signed":
#: each costs two reads, and anyone with push rights can add annotated bogus ones
MAX_IDEMPOTENCY_CANDIDATES = 3
#: an existing signature's envelope is read only up to this size (ours are a few KiB)
MAX_CANDIDATE_BLOB = 1024 * 1024
#: children of one image index signed at most (platform images: a few dozen at most)
MAX_INDEX_CHILDREN = 128
#: an existing signature still counts when it stays valid at least this long (or half the
#: expiry asked for): one about to expire is renewed, not trusted until it lapses
RENEWAL_MARGIN = timedelta(days=1)
#: threads for the overlapped calls (a start beside a resolve, a sign beside a listing)
WORKERS = 32


def leaf_thumbprint_of(signature: Descriptor) -> str | None:
    """The leaf thumbprint from a signature descriptor's annotation, if readable."""
    raw = (signature.annotations or {}).get(ANNOTATION_THUMBPRINTS)
    if not raw:
        return None
    try:
        values = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0].lower()
    return None


def as_signer_error(exc: Exception, step: str) -> SignerError:
    """``exc`` itself when it is one of ours; anything else is a bug, logged once with its
    traceback and then handled as a permanent failure (recorded, acknowledged), so an
    event can never be redelivered for 24 hours over it or leave a row at "signing"."""
    if isinstance(exc, SignerError):
        return exc
    log.error("internal error while %s", step, exc_info=exc)
    return InternalError(
        f"internal error ({type(exc).__name__}) while {step}; recorded and not retried"
    )


def failed(error: SignerError, subject: Descriptor | None, digest: str | None) -> Failed:
    return Failed(subject, error.code, str(error), isinstance(error, TransientError), digest)


class SigningService:
    def __init__(
        self,
        *,
        registry: Registry,
        signer: Signer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        signing_agent: str = SIGNING_AGENT,
        sign_index_children: bool = False,
        speculative_signing: bool = True,
        timestamper: Timestamper | None = None,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        """``timestamper``: every signature gets an RFC 3161 countersignature from it, or
        is not pushed (``--timestamp-url``); None signs without one."""
        self._registry = registry
        self._signer = signer
        self._timestamper = timestamper
        self._clock = clock
        self._agent = signing_agent
        self._children = sign_index_children
        self._speculate = speculative_signing
        self._pool = executor or ThreadPoolExecutor(WORKERS, thread_name_prefix="signer")

    @property
    def signer(self) -> Signer:
        return self._signer

    @property
    def registry(self) -> Registry:
        return self._registry

    @property
    def timestamper(self) -> Timestamper | None:
        return self._timestamper

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        if self._timestamper is not None:
            self._timestamper.close()

    # --- the whole attempt ------------------------------------------------------------

    def sign(self, request: SignRequest, journal: Journal = NULL_JOURNAL) -> list[Outcome]:
        """Sign what ``request`` names (and the children of an index, when configured).

        One outcome per artifact, the requested one first; each is in the journal before
        this returns. A transient failure is journaled and then raised (the platform
        delivers the event again); everything else is an outcome.
        """
        outcome, manifest = self._attempt(request, journal)
        outcomes: list[Outcome] = [outcome]
        subject = outcome.subject
        signable = not isinstance(outcome, Skipped) or outcome.reason == "already_signed"
        if self._children and subject is not None and manifest is not None and signable:
            children, problems = index_children(manifest, subject)
            for problem in problems:  # recorded; they do not stop the valid children
                bad = Failed(subject, "invalid_child", problem, for_digest=subject.digest)
                journal.record(request, bad)
                outcomes.append(bad)
            for child in children:
                child_request = replace(request, reference=child.digest, tag=None)
                outcomes.append(self._attempt(child_request, journal)[0])
        return outcomes

    def _attempt(
        self, request: SignRequest, journal: Journal
    ) -> tuple[Outcome, Mapping[str, Any] | None]:
        digest = request.reference if ":" in request.reference else None
        skip = loopguard.by_tag(request.tag, digest)
        if skip is not None:
            journal.record(request, skip)
            return skip, None
        # A tagged push by digest cannot be one of our own (untagged) signatures, so its
        # lock and ledger row are taken while the manifest is read, not after.
        early = (
            self._pool.submit(journal.started, request, digest) if digest and request.tag else None
        )
        attempt: Attempt | None = None
        subject: Descriptor | None = None
        manifest: Mapping[str, Any] | None = None
        try:
            resolved = self._registry.resolve(request.repository, request.reference)
            subject, manifest = resolved.descriptor, resolved.manifest
            attempt = early.result() if early is not None else None
            early = None
            skip = loopguard.by_manifest(
                subject,
                manifest,
                lambda d: self._registry.fetch_manifest(request.repository, d),
            )
            if skip is not None:
                return self._finish(journal, request, attempt, skip), None
            if attempt is None:
                attempt = journal.started(request, subject.digest)
            outcome = self._sign_subject(request, subject, attempt)
        except Exception as raised:
            error = as_signer_error(raised, f"signing {request.repository}@{request.reference}")
            if early is not None:  # resolve failed while the journal was starting
                attempt = _started_or_none(early)
            outcome = failed(error, subject, subject.digest if subject else digest)
            self._finish(journal, request, attempt, outcome)
            if isinstance(error, TransientError):
                raise error from None
            return outcome, None
        return self._finish(journal, request, attempt, outcome), manifest

    @staticmethod
    def _finish(
        journal: Journal, request: SignRequest, attempt: Attempt | None, outcome: Outcome
    ) -> Outcome:
        if attempt is not None:
            attempt.finish(outcome)
        else:
            journal.record(request, outcome)
        return outcome

    def _sign_subject(self, request: SignRequest, subject: Descriptor, attempt: Attempt) -> Outcome:
        key = self._signer.signing_key()
        signing_time = self._clock().astimezone(UTC).replace(microsecond=0)
        expiry = signing_time + request.expiry if request.expiry else None
        payload = build_payload(subject.plain(), request.user_metadata or None)
        unsigned = prepare_envelope(payload, key, signing_time=signing_time, expiry=expiry)
        pending: Future[tuple[bytes, Timestamp | None]] | None = None
        if self._speculate:
            pending = self._pool.submit(self._sealed, key, unsigned, subject, request)
        if not request.force:
            referrers = self._registry.list_referrers(request.repository, subject)
            existing = self._existing_signature(request, subject, referrers, key)
            if existing is not None:
                return Skipped(
                    subject,
                    "already_signed",
                    f"signature {existing.digest} by the current certificate exists",
                )
        envelope, stamp = (
            pending.result()
            if pending is not None
            else self._sealed(key, unsigned, subject, request)
        )
        chain_thumbprints = thumbprints(key.chain)
        annotations = {
            ANNOTATION_THUMBPRINTS: go_json(chain_thumbprints),
            ANNOTATION_CREATED: signing_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        pushed = self._registry.push_signature(
            request.repository,
            subject,
            envelope,
            COSE_MEDIA_TYPE,
            annotations,
            fence=attempt.ensure_held,
        )
        return Signed(
            subject=subject,
            signature=pushed.descriptor,
            certificate_thumbprints=tuple(chain_thumbprints),
            referrers_api=pushed.referrers_api,
            key_id=key.key_id,
            timestamp=Countersignature(stamp.time, stamp.tsa_subject) if stamp else None,
        )

    def _sealed(
        self, key: SigningKey, unsigned: UnsignedEnvelope, subject: Descriptor, request: SignRequest
    ) -> tuple[bytes, Timestamp | None]:
        """The complete envelope, self-verified, and its timestamp when a TSA is configured:
        sign, have the TSA stamp the signature value, assemble and check, on one thread, so
        all of it overlaps the referrers listing when speculating. A TSA that cannot answer
        fails the attempt (transient): a signature is never pushed without the timestamp it
        was meant to carry."""
        signature = key.sign(unsigned.to_be_signed())
        stamp = (
            None
            if self._timestamper is None
            else self._timestamper.timestamp(
                signature, key.spec.algorithm.hash_name, list(key.chain)
            )
        )
        token = stamp.token if stamp is not None else None
        envelope = unsigned.complete(signature, signing_agent=self._agent, timestamp_token=token)
        self_verify(envelope, subject, request.user_metadata, key, timestamp_token=token)
        return envelope, stamp

    def _existing_signature(
        self,
        request: SignRequest,
        subject: Descriptor,
        referrers: ReferrerList,
        key: SigningKey,
    ) -> Descriptor | None:
        """A listed signature that really is a valid one by ``key`` over ``subject``, or None.

        The thumbprint annotation picks the candidates (it costs nothing to read), but anyone
        who can push may write it on a bogus referrer, or push a copy of one of ours with a
        chain a verifier rejects: a candidate counts only when its envelope verifies, its
        whole chain is our key's and passes the certificate rules, its payload pins this
        subject with the requested metadata, and it stays valid for a while. A candidate
        that is gone, too large or garbage does not count (the artifact is signed again).
        """
        ours = thumbprint(key.chain[0])
        needed = request.expiry / 2 if request.expiry else RENEWAL_MARGIN
        candidates = [d for d in referrers.signatures if leaf_thumbprint_of(d) == ours]
        for candidate in candidates[:MAX_IDEMPOTENCY_CANDIDATES]:
            what = f"signature manifest {request.repository}@{candidate.digest}"
            try:
                layer = signature_layer(
                    self._registry.fetch_manifest(request.repository, candidate), what
                )
                if layer.media_type not in ENVELOPE_MEDIA_TYPES or layer.size > MAX_CANDIDATE_BLOB:
                    continue
                blob = self._registry.fetch_blob(request.repository, layer)
            except PermanentError:
                continue  # deleted since the listing, or not a signature at all
            if genuine_signature(
                blob,
                layer.media_type,
                subject,
                key.chain,
                request.user_metadata,
                valid_for=needed,
                timestamp_roots=self._timestamper.roots if self._timestamper else None,
            ):
                return candidate
        return None


def _started_or_none(early: Future[Attempt]) -> Attempt | None:
    """The journal's start that ran beside a failed resolve; None if it failed too."""
    try:
        return early.result()
    except Exception:  # storage down as well: the resolve failure is what gets reported
        return None


def index_children(
    manifest: Mapping[str, Any], subject: Descriptor
) -> tuple[list[Descriptor], list[str]]:
    """Child manifests of an image index (platform images, not attestations), and a
    description of each entry that is not a usable descriptor (those are not signed, and
    do not stop the others from being signed)."""
    if subject.media_type not in INDEX_MEDIA_TYPES:
        return [], []
    entries = manifest.get("manifests")
    if not isinstance(entries, list):
        problem = f"image index {subject.digest}: 'manifests' is not a list"
        return [], ([] if entries is None else [problem])
    children: list[Descriptor] = []
    problems: list[str] = []
    seen: set[str] = set()
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
        if (child.annotations or {}).get("vnd.docker.reference.type") or child.digest in seen:
            continue
        seen.add(child.digest)
        if len(children) == MAX_INDEX_CHILDREN:
            problems.append(
                f"image index {subject.digest} lists more than {MAX_INDEX_CHILDREN} child "
                "manifests; the rest are not signed"
            )
            break
        children.append(child)
    return children, problems


def genuine_signature(
    blob: bytes,
    media_type: str,
    subject: Descriptor,
    chain: Sequence[x509.Certificate],
    user_metadata: Mapping[str, str],
    *,
    valid_for: timedelta = timedelta(0),
    now: datetime | None = None,
    timestamp_roots: Sequence[x509.Certificate] | None = None,
) -> bool:
    """True when ``blob`` is a valid signature with exactly ``chain`` over ``subject`` that
    stays valid for ``valid_for`` more; with ``timestamp_roots`` (timestamping is on) it
    must also carry a timestamp from a TSA under those roots, within the chain's validity:
    a signature made before timestamping was configured is signed again."""
    moment = now or datetime.now(UTC)
    try:
        envelope = parse_signature(media_type, blob)
        if _der(envelope.chain) != _der(chain):
            return False  # another leaf, or our leaf with a chain a verifier rejects
        verify_integrity(envelope)
        validate_chain(envelope.chain, signing_time=envelope.signing_time)
        target = read_payload(envelope.payload)
        if timestamp_roots is not None:
            if envelope.timestamp_signature is None:
                return False
            from signer.timestamp import verify_timestamp_token  # noqa: PLC0415 - only with a TSA

            stamp = verify_timestamp_token(
                envelope.timestamp_signature, envelope.signature, timestamp_roots
            )
            stamp.check_within(envelope.chain)
    except PermanentError:
        return False
    if target.plain() != subject.plain():
        return False
    annotations = target.annotations or {}
    if any(annotations.get(k) != v for k, v in user_metadata.items()):
        return False
    return envelope.expiry is None or moment + valid_for < envelope.expiry


def _der(chain: Sequence[x509.Certificate]) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in chain]


def self_verify(
    envelope: bytes,
    subject: Descriptor,
    user_metadata: Mapping[str, str],
    key: SigningKey,
    *,
    timestamp_token: bytes | None = None,
) -> None:
    """Check our own output the way a strict verifier will, before it leaves the process.

    The timestamp token itself was checked when it arrived (signer.timestamp); here only
    that the envelope carries exactly it, in the header notation reads."""
    parsed = parse_envelope(envelope)
    if parsed.unprotected.get(HEADER_TIMESTAMP_SIGNATURE) != timestamp_token:
        raise SignatureVerificationError("self-check: the timestamp header is not the token")
    verify_envelope_signature(parsed)
    validate_chain(parsed.chain, signing_time=parsed.signing_time)
    if _der(parsed.chain) != _der(key.chain):
        raise SignatureVerificationError("self-check: the envelope's chain is not the key's")
    target = parse_payload(parsed.payload)
    if target.plain() != subject.plain():
        raise SignatureVerificationError("self-check: payload does not pin the subject descriptor")
    if dict(target.annotations or {}) != dict(user_metadata):
        raise SignatureVerificationError("self-check: payload annotations differ from the request")
