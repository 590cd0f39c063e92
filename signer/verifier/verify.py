"""Verify Notary signatures the way ``notation verify`` does.

Order and semantics follow notation-go verifier/verifier.go (v1.3): pick the trust
policy for the artifact's repository; ``skip`` stops there. Otherwise integrity
(parse, signature, certificate chain rules), authenticity (a chain certificate is
in the trust store; the leaf matches a trusted identity), expiry, authentic
timestamp, revocation; each failure is fatal when the level enforces it and
logged otherwise. Then, whatever the level, the payload must name the subject
(mediaType, digest, size) and carry the required user metadata. An artifact
passes when any of its signatures (at most 100 tried) passes.

Authentic timestamp (notation-go verifyAuthenticTimestamp, verifyTimestamp): for
notary.x509, when the policy names a ``tsa`` store and ``verifyTimestamp`` is
``always`` (or ``afterCertExpiry`` and a chain certificate has expired), the
envelope must carry an RFC 3161 countersignature over its signature value that
verifies against the roots of those stores, the signing chain must be valid over
the token's whole time range (not now: an expired signing certificate passes), and
the TSA chain's revocation status is checked whatever the revocation level;
otherwise the chain must be valid now. notary.x509.signingAuthority: the chain must
be valid at the authentic signing time.

Verdicts agree with notation v1.3.2 (tests/interop/test_verdicts.py and
test_timestamp_verdicts.py run both on the same signatures) except where the
specification says otherwise; README.md, "Verifier and notation", lists each case.
Rejected here, accepted by notation: unknown critical headers, a CA whose
basicConstraints is not critical, SHA-1-signed certificates and JWS times that are
not RFC 3339 (offset +24:00, one-digit hour). OCSP/CRL are not fetched, so a
certificate that names a revocation endpoint, in the signing chain or in a TSA
chain being checked, has status "unknown" (what notation reports when the endpoint
is unreachable). A trust store that is missing or unreadable (a ``tsa`` store when a
token must be checked) is a ConfigurationError, not a failed check. Accepted here,
where notation gives up on the whole artifact: a signature the registry cannot give
(see signer.signatures) fails alone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID

from signer.certs import validate_chain
from signer.errors import (
    CertificateError,
    ConfigurationError,
    EnvelopeError,
    SignatureVerificationError,
    SignerError,
    TransientError,
)
from signer.mediatypes import HEADER_VERIFICATION_PLUGIN, SCHEME_X509_SIGNING_AUTHORITY
from signer.models import Descriptor
from signer.payload import read_payload
from signer.reference import Reference
from signer.timestamp import TimestampInvalidError, verify_timestamp_token
from signer.untrusted import UNTRUSTED_INPUT_ERRORS, describe
from signer.verifier.dn import certificate_dn, is_subset
from signer.verifier.envelopes import Envelope, parse, verify_integrity
from signer.verifier.trustpolicy import (
    Action,
    Check,
    StoreType,
    TrustPolicy,
    TrustPolicyDocument,
)
from signer.verifier.truststore import TrustStore

log = logging.getLogger(__name__)

MAX_SIGNATURES = 100  # notation's default --max-signatures
_EMPTY: Mapping[str, str] = MappingProxyType({})
_RFC1123Z = "%a, %d %b %Y %H:%M:%S +0000"
# what a hostile signature can make parsing or checking raise (ConfigurationError aside)
_SIGNATURE_ERRORS: tuple[type[Exception], ...] = (SignerError, *UNTRUSTED_INPUT_ERRORS)


@dataclass(frozen=True)
class CheckResult:
    """One validation: what was checked, what the level does on failure, why it failed."""

    check: Check
    action: Action
    error: str | None = None

    @property
    def critical(self) -> bool:
        return self.error is not None and self.action == Action.ENFORCE


Status = Literal["verified", "failed", "skipped"]


def _status(error: str | None, skipped: bool) -> Status:
    if skipped:
        return "skipped"
    return "verified" if error is None else "failed"


@dataclass(frozen=True)
class VerificationOutcome:
    """The verdict on one signature blob, with every validation's result.

    ``status`` is "verified", "failed", or "skipped" (the policy's level is ``skip``:
    nothing was checked, which is neither a pass nor a failure of the signature).
    """

    reference: str
    media_type: str
    signature_digest: str
    policy: str
    level: str
    results: tuple[CheckResult, ...] = ()
    error: str | None = None
    envelope: Envelope | None = None
    target: Descriptor | None = None
    skipped: bool = False
    internal_error: bool = False  # a bug in this verifier, not a rule (tests assert it never is)

    @property
    def status(self) -> Status:
        return _status(self.error, self.skipped)

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    @property
    def warnings(self) -> tuple[str, ...]:
        """Failures the level only logs (e.g. expiry under ``permissive``)."""
        return tuple(
            f"{r.check} validation failed (logged): {r.error}"
            for r in self.results
            if r.error is not None and r.action == Action.LOG
        )

    @property
    def user_metadata(self) -> Mapping[str, str]:
        if self.target is None or self.target.annotations is None:
            return _EMPTY
        return self.target.annotations


@dataclass(frozen=True)
class SignatureBlob:
    """A signature layer as fetched from the registry (or why it could not be)."""

    data: bytes
    media_type: str
    manifest_digest: str | None = None  # the signature manifest, for reports
    error: str | None = None  # set when the registry gave no usable blob: it fails


@dataclass(frozen=True)
class ArtifactVerification:
    """The verdict on an artifact: it passes when any of its signatures passes.

    ``status`` keeps the three outcomes apart: "verified", "failed", and "skipped" (the
    applicable policy's level is ``skip``; notation then reports that verification was
    skipped, not that it succeeded).
    """

    reference: str
    policy: str
    level: str
    outcomes: tuple[VerificationOutcome, ...] = ()
    error: str | None = None
    skipped: bool = False
    manifest_digests: tuple[str | None, ...] = field(default=())

    @property
    def status(self) -> Status:
        return _status(self.error, self.skipped)

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    @property
    def accepted(self) -> VerificationOutcome | None:
        return next((o for o in self.outcomes if o.verified), None)


def _bounded(reason: str, limit: int = 2000) -> str:
    """Reasons quote signature content (media types, names): keep a hostile one short."""
    return reason if len(reason) <= limit else reason[:limit] + "… (truncated)"


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _has_revocation_endpoint(cert: x509.Certificate) -> bool:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
        if any(d.access_method == AuthorityInformationAccessOID.OCSP for d in aia.value):
            return True
    except (x509.ExtensionNotFound, ValueError):
        pass
    try:
        cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    except x509.ExtensionNotFound:
        return False
    except ValueError:
        return True  # a malformed CDP still means "revocable"; we cannot check it
    return True


def _revocable(chain: Sequence[x509.Certificate]) -> x509.Certificate | None:
    """The certificate notation names when revocation status is unknown: of those with an
    OCSP/CRL endpoint (which we do not query), the one nearest the leaf (notation-go
    revocationFinalResult walks from the root and keeps the last one it finds)."""
    return next((cert for cert in chain if _has_revocation_endpoint(cert)), None)


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _valid_at_signing(chain: Sequence[x509.Certificate], at: datetime) -> str | None:
    """notary.x509.signingAuthority: the authentic signing time is within every validity."""
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            return (
                f"certificate {_subject(cert)!r} was not valid when the digital signature "
                f"was produced at {at:{_RFC1123Z}}"
            )
    return None


def _timestamp_required(
    policy: TrustPolicy, chain: Sequence[x509.Certificate], now: datetime
) -> bool:
    """Whether a notary.x509 signature needs a verified timestamp (trust-store-trust-policy.md,
    "Timestamp Countersignature Verification details"): the policy names a tsa store, and
    verifyTimestamp is "always", or "afterCertExpiry" and a chain certificate has expired."""
    if not policy.stores_of(StoreType.TSA):
        return False
    if policy.verify_timestamp == "afterCertExpiry":
        return any(now > cert.not_valid_after_utc for cert in chain)
    return True


def _valid_now(chain: Sequence[x509.Certificate], now: datetime) -> str | None:
    """Without a verified timestamp every certificate must be valid at verification time."""
    for cert in chain:
        if now < cert.not_valid_before_utc:
            return (
                f"verification time is before certificate {_subject(cert)!r} validity period, "
                f"it will be valid from {cert.not_valid_before_utc:{_RFC1123Z}}"
            )
        if now > cert.not_valid_after_utc:
            return (
                f"verification time is after certificate {_subject(cert)!r} validity period, "
                f"it was expired at {cert.not_valid_after_utc:{_RFC1123Z}}"
            )
    return None


class _Run:
    """State of one signature's verification; ``add`` reports whether to stop."""

    def __init__(self, policy: TrustPolicy) -> None:
        self.policy = policy
        self.results: list[CheckResult] = []

    def add(self, check: Check, error: str | None) -> bool:
        result = CheckResult(check, self.policy.actions[check], error)
        self.results.append(result)
        if error is not None and result.action == Action.LOG:
            log.warning("%s validation failed (logged): %s", check, error)
        return result.critical


class Verifier:
    """Checks signatures against a notation trust policy and trust store.

    ``now`` is the clock for expiry and certificate validity (tests pin it).
    Configuration problems (no policy for the repository, a trust store that is
    missing or unreadable) raise ConfigurationError instead of becoming verdicts.
    """

    def __init__(
        self,
        policy_doc: TrustPolicyDocument | Mapping[str, Any],
        trust_store_dir: str | Path | TrustStore,
        *,
        now: Callable[[], datetime] | None = None,
        max_signatures: int = MAX_SIGNATURES,
    ) -> None:
        self.policy_doc = (
            policy_doc
            if isinstance(policy_doc, TrustPolicyDocument)
            else TrustPolicyDocument.from_json(policy_doc)
        )
        self.trust_store = (
            trust_store_dir
            if isinstance(trust_store_dir, TrustStore)
            else TrustStore(trust_store_dir)
        )
        self._now = now or (lambda: datetime.now(UTC))
        if max_signatures < 1:
            raise ValueError("max_signatures must be at least 1")
        self.max_signatures = max_signatures

    def policy_for(self, reference: Reference | str) -> TrustPolicy:
        ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
        return self.policy_doc.policy_for(ref)

    # -- one signature ----------------------------------------------------------

    def verify_signature(
        self,
        reference: Reference | str,
        subject: Descriptor,
        envelope: bytes,
        media_type: str,
        user_metadata: Mapping[str, str] = _EMPTY,
    ) -> VerificationOutcome:
        """Verify one signature blob (the signature manifest's layer) against ``subject``."""
        ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
        policy = self.policy_doc.policy_for(ref)
        digest = "sha256:" + hashlib.sha256(envelope).hexdigest()
        if policy.is_skip:
            return VerificationOutcome(
                str(ref), media_type, digest, policy.name, policy.level, skipped=True
            )
        run = _Run(policy)
        env: Envelope | None = None
        target: Descriptor | None = None
        try:
            env, target, error = self._process(run, envelope, media_type)
            if error is None and target is not None:
                error = self._check_target(target, subject, user_metadata)
        except ConfigurationError:
            raise  # the trust store, not the signature: no verdict is possible
        except _SIGNATURE_ERRORS as exc:
            # Every rule is checked where it applies; this is the boundary for whatever a
            # hostile signature still manages to raise: it fails, and only this signature.
            error = f"the signature cannot be processed: {describe(exc)}"
        if error is not None:
            error = _bounded(error)
            log.info("signature %s for %s failed: %s", digest, ref, error)
        return VerificationOutcome(
            str(ref),
            media_type,
            digest,
            policy.name,
            policy.level,
            results=tuple(run.results),
            error=error,
            envelope=env,
            target=target,
        )

    def _process(
        self, run: _Run, blob: bytes, media_type: str
    ) -> tuple[Envelope | None, Descriptor | None, str | None]:
        # integrity: always enforced
        try:
            env = parse(media_type, blob)
        except EnvelopeError as exc:
            run.add(Check.INTEGRITY, f"unable to parse the digital signature: {exc}")
            return None, None, run.results[-1].error
        integrity, target = self._integrity(env)
        if run.add(Check.INTEGRITY, integrity):
            return env, None, integrity
        plugin = env.protected.get(HEADER_VERIFICATION_PLUGIN)
        if plugin is not None:
            return (
                env,
                target,
                (
                    f"the signature requires verification plugin {plugin!r}; "
                    "verification plugins are not supported"
                ),
            )
        for step in (self._authenticity, self._expiry, self._authentic_timestamp):
            check, error = step(run.policy, env)
            if run.add(check, error):
                return env, target, error
        if run.policy.actions[Check.REVOCATION] != Action.SKIP:
            error = self._revocation(env)
            if run.add(Check.REVOCATION, error):
                return env, target, error
        return env, target, None

    @staticmethod
    def _integrity(env: Envelope) -> tuple[str | None, Descriptor | None]:
        """(why integrity fails, or None; the payload's target artifact when it holds)."""
        try:
            verify_integrity(env)
        except SignatureVerificationError as exc:
            return f"signature is invalid: {exc}", None
        try:
            validate_chain(env.chain)  # structure and certificate rules; times come later
        except CertificateError as exc:
            return f"certificate-chain is invalid: {exc}", None
        try:
            return None, read_payload(env.payload)
        except EnvelopeError as exc:
            return f"invalid payload: {exc}", None

    def _authenticity(self, policy: TrustPolicy, env: Envelope) -> tuple[Check, str | None]:
        store_type = (
            StoreType.SIGNING_AUTHORITY
            if env.signing_scheme == SCHEME_X509_SIGNING_AUTHORITY
            else StoreType.CA
        )
        trusted: list[x509.Certificate] = []
        for name in policy.stores_of(store_type):
            trusted.extend(self.trust_store.certificates(store_type, name))
        error: str | None = None
        if not trusted:
            error = (
                f"no trusted certificates are found to verify authenticity: trust policy "
                f"{policy.name!r} names no {store_type} trust store"
            )
        else:
            # notation-core-go VerifyAuthenticity: any certificate of the (already
            # validated) chain must equal a trust store certificate.
            anchors = {_der(c) for c in trusted}
            if not any(_der(c) in anchors for c in env.chain):
                error = (
                    "the signature's certificate chain does not contain a certificate from "
                    f"the trust store(s) {', '.join(policy.stores_of(store_type))} of policy "
                    f"{policy.name!r}"
                )
        if error is not None and policy.actions[Check.AUTHENTICITY] == Action.ENFORCE:
            return Check.AUTHENTICITY, error
        identity_error = self._identity(policy, env.chain[0])
        return Check.AUTHENTICITY, identity_error or error

    @staticmethod
    def _identity(policy: TrustPolicy, leaf: x509.Certificate) -> str | None:
        if policy.trusts_any_identity:
            return None
        identities = [i for i in policy.trusted_identities if i.attributes is not None]
        if not identities:
            return f"no x509 trusted identities are configured in the trust policy {policy.name!r}"
        try:
            subject = certificate_dn(leaf)
        except CertificateError as exc:
            return f"error while parsing the certificate subject from the digital signature: {exc}"
        for identity in identities:
            assert identity.attributes is not None
            if is_subset(identity.attributes, subject):
                return None
        return (
            f"signing certificate {_subject(leaf)!r} does not match the X.509 trusted identities "
            f"{[i.raw for i in identities]} of trust policy {policy.name!r}"
        )

    def _expiry(self, policy: TrustPolicy, env: Envelope) -> tuple[Check, str | None]:
        if env.expiry is not None and not self._now() < env.expiry:
            return Check.EXPIRY, f"digital signature has expired on {env.expiry:{_RFC1123Z}}"
        return Check.EXPIRY, None

    def _authentic_timestamp(self, policy: TrustPolicy, env: Envelope) -> tuple[Check, str | None]:
        """notation-go verifyAuthenticTimestamp / verifyTimestamp."""
        check = Check.AUTHENTIC_TIMESTAMP
        if env.signing_scheme == SCHEME_X509_SIGNING_AUTHORITY:
            return check, _valid_at_signing(env.chain, env.signing_time)
        now = self._now()
        if not _timestamp_required(policy, env.chain, now):
            return check, _valid_now(env.chain, now)
        return check, self._verify_timestamp(policy, env)

    def _verify_timestamp(self, policy: TrustPolicy, env: Envelope) -> str | None:
        """The countersignature is over this signature, from a trusted TSA, and its whole
        time range lies in the signing chain's validity (not "now": the chain may have
        expired since); then the TSA chain's revocation status, whatever the policy's
        revocation level (notation checks it as part of this step)."""
        if not env.timestamp_signature:
            return "no timestamp countersignature was found in the signature envelope"
        roots: list[x509.Certificate] = []
        for name in policy.stores_of(StoreType.TSA):
            roots.extend(self.trust_store.certificates(StoreType.TSA, name))
        try:
            stamp = verify_timestamp_token(env.timestamp_signature, env.signature, roots)
            stamp.check_within(env.chain)
        except TimestampInvalidError as exc:
            return exc.message
        revocable = _revocable(stamp.tsa_chain)
        if revocable is not None:
            return (
                f"timestamping certificate with subject {_subject(revocable)!r} revocation "
                "status is unknown: OCSP/CRL checking is not implemented by this verifier"
            )
        return None

    @staticmethod
    def _revocation(env: Envelope) -> str | None:
        """Certificates without OCSP/CRL endpoints are non-revocable: OK, as in notation.

        We do not fetch OCSP or CRLs; a certificate that names an endpoint gets
        "unknown", which notation also reports when the endpoint is unreachable.
        """
        revocable = _revocable(env.chain)
        if revocable is not None:
            return (
                f"signing certificate with subject {_subject(revocable)!r} revocation status is "
                "unknown: OCSP/CRL checking is not implemented by this verifier"
            )
        return None

    @staticmethod
    def _check_target(
        target: Descriptor, subject: Descriptor, user_metadata: Mapping[str, str]
    ) -> str | None:
        if (target.media_type, target.digest, target.size) != (
            subject.media_type,
            subject.digest,
            subject.size,
        ):
            return (
                "content descriptor mismatch: the signature is for "
                f"{target.media_type} {target.digest} ({target.size} bytes), not "
                f"{subject.media_type} {subject.digest} ({subject.size} bytes)"
            )
        annotations = target.annotations or _EMPTY
        for key, value in user_metadata.items():
            if annotations.get(key) != value:
                return f"user metadata {key}={value} is not present in the signature payload"
        return None

    # -- an artifact's signatures ---------------------------------------------------

    def _verify_one(
        self,
        ref: Reference,
        subject: Descriptor,
        blob: SignatureBlob,
        user_metadata: Mapping[str, str],
    ) -> VerificationOutcome:
        """One signature's verdict; nothing one signature holds can end the loop over them."""
        digest = "sha256:" + hashlib.sha256(blob.data).hexdigest()
        if blob.error is not None:  # the registry could not give us this signature
            policy = self.policy_doc.policy_for(ref)
            return VerificationOutcome(
                str(ref), blob.media_type, digest, policy.name, policy.level, error=blob.error
            )
        try:
            outcome = self.verify_signature(ref, subject, blob.data, blob.media_type, user_metadata)
            # a failed signature keeps its verdict, not its envelope or payload: 100
            # failed signatures must not hold 100 blobs (each up to 32 MiB) in memory
            return outcome if outcome.verified else replace(outcome, envelope=None, target=None)
        except (ConfigurationError, TransientError):
            raise
        except Exception as exc:
            log.exception("verifying signature %s of %s raised", digest, ref)
            policy = self.policy_doc.policy_for(ref)
            return VerificationOutcome(
                str(ref),
                blob.media_type,
                digest,
                policy.name,
                policy.level,
                error=f"internal error while verifying this signature: {type(exc).__name__}",
                internal_error=True,
            )

    def verify_signatures(
        self,
        reference: Reference | str,
        subject: Descriptor,
        signatures: Iterable[SignatureBlob],
        user_metadata: Mapping[str, str] = _EMPTY,
    ) -> ArtifactVerification:
        """Pass if any signature passes; stop at the first that does, try at most max_signatures.

        ``signatures`` may be lazy: nothing past the accepted one (or the limit) is read.
        """
        ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
        policy = self.policy_doc.policy_for(ref)
        head = (str(ref), policy.name, policy.level)
        if policy.is_skip:
            return ArtifactVerification(*head, skipped=True)
        outcomes: list[VerificationOutcome] = []
        digests: list[str | None] = []
        for blob in signatures:
            outcome = self._verify_one(ref, subject, blob, user_metadata)
            digests.append(blob.manifest_digest)
            outcomes.append(outcome)
            if outcome.verified:
                return ArtifactVerification(
                    *head, outcomes=tuple(outcomes), manifest_digests=tuple(digests)
                )
            del blob  # let it go before the next one is fetched: one blob in memory at a time
            if len(outcomes) >= self.max_signatures:
                break
        if not outcomes:
            error = f"no signature is associated with {ref}"
        elif len(outcomes) >= self.max_signatures:
            error = (
                f"signature evaluation stopped: the limit of {self.max_signatures} signatures "
                f"per artifact was reached and none verified for {ref}"
            )
        else:
            error = f"signature verification failed for all the signatures associated with {ref}"
        return ArtifactVerification(
            *head, outcomes=tuple(outcomes), error=error, manifest_digests=tuple(digests)
        )
