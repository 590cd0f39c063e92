"""What is in a signature blob, for a CLI ``inspect`` command.

Shows an envelope even when the strict parser rejects it: the summary then
carries the parse error and whatever a lenient decode could still read, which
is what a user debugging a rejected signature needs to see.

A timestamp countersignature is shown as ``notation inspect`` shows it: its time range
(genTime ± accuracy) and the certificates the token carries, read with
``summarize_timestamp_token``, which checks only that the token is over this signature.
Nothing here is trusted: ``verify`` decides.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signer.algorithms import BY_COSE_ID
from signer.certs import load_certificate, thumbprint
from signer.errors import CertificateError, EnvelopeError, SignerError
from signer.mediatypes import (
    COSE_MEDIA_TYPE,
    HEADER_AUTHENTIC_SIGNING_TIME,
    HEADER_EXPIRY,
    HEADER_SIGNING_AGENT,
    HEADER_SIGNING_SCHEME,
    HEADER_SIGNING_TIME,
    HEADER_TIMESTAMP_SIGNATURE,
    JWS_MEDIA_TYPE,
)
from signer.models import Descriptor
from signer.payload import read_payload
from signer.timestamp import summarize_timestamp_token
from signer.untrusted import UNTRUSTED_INPUT_ERRORS
from signer.verifier.envelopes import Envelope, parse


@dataclass(frozen=True)
class CertificateSummary:
    subject: str
    issuer: str
    sha256: str
    not_before: datetime | None
    not_after: datetime | None

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertificateSummary:
        """For a certificate from ``load_certificate`` (fully parsed, so nothing raises)."""
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            sha256=thumbprint(cert),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )

    @classmethod
    def of_der(cls, der: bytes) -> CertificateSummary:
        """Whatever DER there is: a certificate that does not parse is shown as such."""
        try:
            return cls.of(load_certificate(der))
        except CertificateError as exc:
            unreadable = f"(unreadable: {exc})"
            digest = hashlib.sha256(der).hexdigest()
            return cls(
                subject=unreadable,
                issuer=unreadable,
                sha256=digest,
                not_before=None,
                not_after=None,
            )


_TOKEN_ERRORS: tuple[type[Exception], ...] = (SignerError, *UNTRUSTED_INPUT_ERRORS)


def _when(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _certificates_json(certs: tuple[CertificateSummary, ...]) -> list[dict[str, Any]]:
    return [
        {
            "subject": c.subject,
            "issuer": c.issuer,
            "sha256Fingerprint": c.sha256,
            "notBefore": _when(c.not_before),
            "notAfter": _when(c.not_after),
        }
        for c in certs
    ]


@dataclass(frozen=True)
class TimestampSignatureSummary:
    """A countersignature as read, not verified: its time range and the certificates the
    token carries; or, for a token that is unreadable or over another signature, why."""

    time: datetime | None = None  # TSTInfo genTime
    earliest: datetime | None = None  # genTime - accuracy (notation's rule for no accuracy)
    latest: datetime | None = None
    accuracy: timedelta | None = None  # as the token gives it; None when it has none
    policy: str | None = None
    tsa_subject: str | None = None  # the certificate the token names as its signer
    certificates: tuple[CertificateSummary, ...] = ()
    error: str | None = None

    @classmethod
    def of(cls, token: bytes, signature: bytes) -> TimestampSignatureSummary:
        try:
            read = summarize_timestamp_token(token, signature)
        except _TOKEN_ERRORS as exc:
            return cls(error=str(exc) or type(exc).__name__)
        return cls(
            time=read.time,
            earliest=read.earliest,
            latest=read.latest,
            accuracy=read.accuracy,
            policy=read.policy,
            tsa_subject=read.tsa_subject,
            certificates=tuple(
                CertificateSummary.of_der(c.public_bytes(serialization.Encoding.DER))
                for c in read.certificates
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "genTime": _when(self.time),
            "earliest": _when(self.earliest),
            "latest": _when(self.latest),
            "accuracySeconds": None if self.accuracy is None else self.accuracy.total_seconds(),
            "policy": self.policy,
            "tsaSubject": self.tsa_subject,
            "certificates": _certificates_json(self.certificates),
            "error": self.error,
        }


@dataclass(frozen=True)
class SignatureSummary:
    media_type: str
    digest: str | None  # of the envelope blob; None when the registry did not give it
    algorithm: str | None = None
    signing_scheme: str | None = None
    signing_time: datetime | None = None
    expiry: datetime | None = None
    signing_agent: str | None = None
    certificates: tuple[CertificateSummary, ...] = ()
    signed_artifact: Descriptor | None = None
    user_metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    error: str | None = None  # why the strict parser rejects the envelope
    timestamp: TimestampSignatureSummary | None = None  # None: no countersignature

    def to_json(self) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "signatureAlgorithm": self.algorithm,
            "signingScheme": self.signing_scheme,
            "signingTime": _when(self.signing_time),
            "expiry": _when(self.expiry),
            "signingAgent": self.signing_agent,
            "certificates": _certificates_json(self.certificates),
            "timestampSignature": None if self.timestamp is None else self.timestamp.to_json(),
            "signedArtifact": (
                None if self.signed_artifact is None else self.signed_artifact.plain().to_json()
            ),
            "userMetadata": dict(self.user_metadata),
            "error": self.error,
        }


def _certs(raw: object) -> tuple[CertificateSummary, ...]:
    items = raw if isinstance(raw, list) else [raw]
    return tuple(CertificateSummary.of_der(item) for item in items if isinstance(item, bytes))


def _target(payload: object) -> Descriptor | None:
    if not isinstance(payload, bytes):
        return None
    try:
        return read_payload(payload)
    except EnvelopeError:
        return None


def _lenient_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            return None
    return None


def _timestamp(token: object, signature: object) -> TimestampSignatureSummary | None:
    if not isinstance(token, bytes):
        return None
    return TimestampSignatureSummary.of(token, signature if isinstance(signature, bytes) else b"")


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _lenient_cose(blob: bytes) -> dict[str, Any]:
    outer = cbor2.loads(blob)
    msg = outer.value if isinstance(outer, cbor2.CBORTag) else outer
    if not isinstance(msg, list) or len(msg) != 4:
        return {}
    protected = cbor2.loads(msg[0]) if isinstance(msg[0], bytes) and msg[0] else {}
    unprotected = msg[1] if isinstance(msg[1], dict) else {}
    if not isinstance(protected, dict):
        protected = {}
    alg_id = protected.get(1)
    alg = BY_COSE_ID.get(alg_id) if isinstance(alg_id, int) else None
    return {
        "algorithm": alg.name if alg else None,
        "signing_scheme": _str(protected.get(HEADER_SIGNING_SCHEME)),
        "signing_time": _lenient_time(
            protected.get(HEADER_SIGNING_TIME, protected.get(HEADER_AUTHENTIC_SIGNING_TIME))
        ),
        "expiry": _lenient_time(protected.get(HEADER_EXPIRY)),
        "signing_agent": _str(unprotected.get(HEADER_SIGNING_AGENT)),
        "certificates": _certs(unprotected.get(33, protected.get(33))),
        "signed_artifact": _target(msg[2]),
        "timestamp": _timestamp(unprotected.get(HEADER_TIMESTAMP_SIGNATURE), msg[3]),
    }


def _b64(value: object, urlsafe: bool) -> bytes:
    if not isinstance(value, str):
        return b""
    padded = value + "=" * (-len(value) % 4)
    return base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded)


def _lenient_jws(blob: bytes) -> dict[str, Any]:
    doc = json.loads(blob)
    if not isinstance(doc, dict):
        return {}
    protected = json.loads(_b64(doc.get("protected"), True) or b"{}")
    raw_header = doc.get("header")
    header: dict[str, Any] = raw_header if isinstance(raw_header, dict) else {}
    if not isinstance(protected, dict):
        protected = {}
    raw_x5c = header.get("x5c")
    x5c: list[Any] = raw_x5c if isinstance(raw_x5c, list) else []
    raw_token = header.get(HEADER_TIMESTAMP_SIGNATURE)
    token = _b64(raw_token, False) if isinstance(raw_token, str) else None
    return {
        "algorithm": _str(protected.get("alg")),
        "signing_scheme": _str(protected.get(HEADER_SIGNING_SCHEME)),
        "signing_time": _lenient_time(
            protected.get(HEADER_SIGNING_TIME, protected.get(HEADER_AUTHENTIC_SIGNING_TIME))
        ),
        "expiry": _lenient_time(protected.get(HEADER_EXPIRY)),
        "signing_agent": _str(header.get(HEADER_SIGNING_AGENT)),
        "certificates": _certs([_b64(c, False) for c in x5c]),
        "signed_artifact": _target(_b64(doc.get("payload"), True)),
        "timestamp": _timestamp(token, _b64(doc.get("signature"), True)),
    }


def _from_envelope(env: Envelope, digest: str) -> SignatureSummary:
    try:
        target: Descriptor | None = read_payload(env.payload)
        error = None
    except EnvelopeError as exc:
        target, error = None, f"the payload is not a valid Notary payload: {exc}"
    return SignatureSummary(
        media_type=env.media_type,
        digest=digest,
        algorithm=env.algorithm.name,
        signing_scheme=env.signing_scheme,
        signing_time=env.signing_time,
        expiry=env.expiry,
        signing_agent=env.signing_agent,
        certificates=tuple(CertificateSummary.of(c) for c in env.chain),
        signed_artifact=target,
        user_metadata=MappingProxyType(dict(target.annotations or {})) if target else {},
        error=error,
        timestamp=_timestamp(env.timestamp_signature, env.signature),
    )


def inspect_signature(blob: bytes, media_type: str) -> SignatureSummary:
    """Summarise a signature blob; never raises for a malformed one (see ``error``)."""
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    try:
        return _from_envelope(parse(media_type, blob), digest)
    except EnvelopeError as exc:
        error = str(exc)
    lenient = {COSE_MEDIA_TYPE: _lenient_cose, JWS_MEDIA_TYPE: _lenient_jws}.get(media_type)
    fields: dict[str, Any] = {}
    if lenient is not None:
        try:
            fields = lenient(blob)
        except UNTRUSTED_INPUT_ERRORS:  # best effort: the strict error is already recorded
            fields = {}
    target = fields.get("signed_artifact")
    if isinstance(target, Descriptor) and target.annotations:
        fields["user_metadata"] = MappingProxyType(dict(target.annotations))
    return SignatureSummary(media_type=media_type, digest=digest, error=error, **fields)
