"""Notary Project COSE_Sign1 envelopes (media type ``application/cose``).

signature-envelope-cose.md; the rules we hold ourselves to are listed in
docs/notary-facts.md of the reference material. Built with cbor2 and encoded
deterministically (map keys in bytewise order of their encodings) exactly as
notation/go-cose does, so envelopes compare field for field with the reference
tool's. Parsing is strict: whatever notation-core-go rejects, ``parse_envelope``
rejects, plus unknown critical headers, which the specification forbids.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from signer.algorithms import BY_COSE_ID, Algorithm, key_spec_of_certificate
from signer.cbor_strict import EpochTime, check_cose_sign1_tagged, decode_header
from signer.certs import load_certificate
from signer.errors import (
    CertificateError,
    EnvelopeError,
    SignatureVerificationError,
    UnsupportedKeyError,
)
from signer.mediatypes import (
    HEADER_AUTHENTIC_SIGNING_TIME,
    HEADER_EXPIRY,
    HEADER_SIGNING_AGENT,
    HEADER_SIGNING_SCHEME,
    HEADER_SIGNING_TIME,
    HEADER_TIMESTAMP_SIGNATURE,
    HEADER_VERIFICATION_PLUGIN,
    HEADER_VERIFICATION_PLUGIN_MIN_VERSION,
    NOTARY_PAYLOAD_CTY,
    SCHEME_X509,
    SCHEME_X509_SIGNING_AUTHORITY,
)
from signer.signers.base import SigningKey
from signer.untrusted import UNTRUSTED_INPUT_ERRORS, describe, untrusted

COSE_SIGN1_TAG = 18
EPOCH_TAG = 1
ALG, CRIT, CTY, X5CHAIN = 1, 2, 3, 33

# Protected headers this implementation understands; any other label listed in
# crit makes the envelope unverifiable (signature-specification.md, "Extended
# attributes": unknown critical attributes MUST fail verification).
_KNOWN_PROTECTED: frozenset[object] = frozenset(
    {
        ALG,
        CRIT,
        CTY,
        HEADER_SIGNING_SCHEME,
        HEADER_SIGNING_TIME,
        HEADER_AUTHENTIC_SIGNING_TIME,
        HEADER_EXPIRY,
        HEADER_VERIFICATION_PLUGIN,
        HEADER_VERIFICATION_PLUGIN_MIN_VERSION,
    }
)


def _encode_map(items: Mapping[Any, bytes]) -> bytes:
    """A CBOR map from pre-encoded values, keys in bytewise order of their encodings."""
    pairs = sorted((cbor2.dumps(k), v) for k, v in items.items())
    return _map_head(len(pairs)) + b"".join(k + v for k, v in pairs)


def _map_head(n: int) -> bytes:
    return bytes([0xA0 | n]) if n < 24 else bytes([0xB8, n])


def _epoch(dt: datetime) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(EPOCH_TAG, int(dt.timestamp())))


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """COSE Sig_structure for Sign1: the exact bytes that are signed."""
    return cbor2.dumps(["Signature1", protected, b"", payload])


@dataclass(frozen=True)
class UnsignedEnvelope:
    """An envelope up to its signature: the protected header is final, so the bytes to sign
    are known and the signature can be made elsewhere (in parallel with other work)."""

    protected: bytes
    payload: bytes
    chain: tuple[x509.Certificate, ...]

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected, self.payload)

    def complete(
        self,
        signature: bytes,
        *,
        signing_agent: str | None = None,
        timestamp_token: bytes | None = None,
    ) -> bytes:
        """The tagged COSE_Sign1 bytes; ``timestamp_token`` is an RFC 3161 TimeStampToken
        over ``signature`` (unprotected ``io.cncf.notary.timestampSignature``)."""
        unprotected: dict[Any, bytes] = {
            X5CHAIN: cbor2.dumps([c.public_bytes(serialization.Encoding.DER) for c in self.chain]),
        }
        if signing_agent:
            unprotected[HEADER_SIGNING_AGENT] = cbor2.dumps(signing_agent)
        if timestamp_token is not None:
            unprotected[HEADER_TIMESTAMP_SIGNATURE] = cbor2.dumps(timestamp_token)
        body = (
            b"\x84"
            + cbor2.dumps(self.protected)
            + _encode_map(unprotected)
            + cbor2.dumps(self.payload)
            + cbor2.dumps(signature)
        )
        return b"\xd2" + body  # tag 18


def prepare_envelope(
    payload: bytes,
    key: SigningKey,
    *,
    signing_time: datetime,
    expiry: datetime | None = None,
) -> UnsignedEnvelope:
    """The protected header for ``key`` (its leaf decides the algorithm) and ``payload``.

    ``signing_time`` is truncated to whole seconds (notation writes integer epochs).
    """
    chain = tuple(key.chain)
    if not chain:
        raise EnvelopeError("the signer has no certificate chain")
    leaf_spec = key_spec_of_certificate(chain[0])
    if leaf_spec != key.spec:
        raise UnsupportedKeyError(
            f"the leaf certificate's key is {leaf_spec.label} but the signing key is "
            f"{key.spec.label}"
        )
    signing_time = signing_time.astimezone(UTC).replace(microsecond=0)
    crit = [HEADER_SIGNING_SCHEME]
    protected: dict[Any, bytes] = {
        ALG: cbor2.dumps(leaf_spec.algorithm.cose_id),
        CTY: cbor2.dumps(NOTARY_PAYLOAD_CTY),
        HEADER_SIGNING_SCHEME: cbor2.dumps(SCHEME_X509),
        HEADER_SIGNING_TIME: _epoch(signing_time),
    }
    if expiry is not None:
        expiry = expiry.astimezone(UTC).replace(microsecond=0)
        if expiry <= signing_time:
            raise EnvelopeError("expiry must be after the signing time")
        protected[HEADER_EXPIRY] = _epoch(expiry)
        crit.append(HEADER_EXPIRY)
    protected[CRIT] = cbor2.dumps(crit)
    return UnsignedEnvelope(_encode_map(protected), payload, chain)


def build_envelope(
    payload: bytes,
    key: SigningKey,
    *,
    signing_time: datetime,
    expiry: datetime | None = None,
    signing_agent: str | None = None,
) -> bytes:
    """Sign ``payload`` with ``key`` and return the tagged COSE_Sign1 envelope bytes."""
    unsigned = prepare_envelope(payload, key, signing_time=signing_time, expiry=expiry)
    return unsigned.complete(key.sign(unsigned.to_be_signed()), signing_agent=signing_agent)


@dataclass(frozen=True)
class ParsedEnvelope:
    """A structurally valid Notary COSE envelope (signature not yet checked)."""

    raw: bytes
    protected_bytes: bytes
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes
    algorithm: Algorithm
    signing_scheme: str
    signing_time: datetime
    expiry: datetime | None
    chain: tuple[x509.Certificate, ...]
    signing_agent: str | None
    critical: tuple[object, ...]

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected_bytes, self.payload)


# datetime's range as epoch seconds: an instant outside it is clamped to the nearest end.
_MIN_EPOCH = int(datetime.min.replace(tzinfo=UTC).timestamp())
_MAX_EPOCH = int(datetime.max.replace(tzinfo=UTC).timestamp())


def utc_from_epoch(seconds: int, microseconds: int = 0) -> datetime:
    """UTC datetime of an epoch instant; before year 1 or after 9999 it is clamped.

    Envelope times come from the signer and Go's time.Time holds years 0-9999 and
    beyond; a clamped instant still compares as earlier or later than any real time.
    """
    if seconds < _MIN_EPOCH:
        return datetime.min.replace(tzinfo=UTC)
    if seconds >= _MAX_EPOCH:
        return datetime.max.replace(tzinfo=UTC)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=microseconds)


# 0001-01-01T00:00:00Z: Go's zero time.Time, which notation-core-go reads as "absent"
GO_ZERO_EPOCH = -62135596800
_INT64 = range(-(2**63), 2**63)


def _time_value(value: object, name: str) -> datetime:
    """A tag 1 epoch time as notation reads it: any int64 second, fractions allowed.

    The COSE envelope spec says fractions SHOULD NOT be used (we never write them) but
    they are valid CBOR epoch times and notation accepts them.
    """
    if not isinstance(value, EpochTime):  # a plain int or a string is not a time
        raise EnvelopeError(f"invalid {name}: expected a CBOR tag 1 epoch time")
    number = value.seconds
    if isinstance(number, float) and not math.isfinite(number):
        raise EnvelopeError(f"invalid {name}: {number} is not a time")
    seconds = math.floor(number)
    if seconds not in _INT64:
        raise EnvelopeError(f"invalid {name}: {number} is out of range")
    if name != HEADER_EXPIRY and seconds == GO_ZERO_EPOCH and number == seconds:
        raise EnvelopeError(f"invalid {name}: 0001-01-01T00:00:00Z is read as no time at all")
    return utc_from_epoch(seconds, int((number - seconds) * 1_000_000))


def _loads(data: bytes) -> Any:
    """cbor2.loads, with its decode errors (bad UTF-8, bad tag 1 content) as EnvelopeError."""
    try:
        with untrusted("CBOR: cannot decode", EnvelopeError):
            return cbor2.loads(data)
    except OSError as exc:  # cbor2 reports an out-of-range tag 1 epoch as the C library does
        raise EnvelopeError(f"CBOR: cannot decode: {describe(exc)}") from None


def _check_labels(header: Mapping[Any, Any], where: str) -> None:
    # COSE labels are int or tstr (RFC 9052 section 3). Python's True == 1 and
    # 1.0 == 1, so a bool or float label would otherwise pass for alg (1).
    for label in header:
        if isinstance(label, bool) or not isinstance(label, int | str):
            raise EnvelopeError(f"{where} header label {label!r} is not an integer or a string")


def _decode_sign1(data: bytes) -> tuple[bytes, dict[Any, Any], bytes, bytes]:
    check_cose_sign1_tagged(data)
    outer = _loads(data)
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != COSE_SIGN1_TAG:
        raise EnvelopeError("not a COSE_Sign1_Tagged object")
    msg = outer.value
    if not isinstance(msg, list) or len(msg) != 4:
        raise EnvelopeError("COSE_Sign1 must be an array of four items")
    protected_bytes, unprotected, payload, signature = msg
    if not isinstance(protected_bytes, bytes) or not protected_bytes:
        raise EnvelopeError("protected header must be a non-empty bstr")
    if not isinstance(unprotected, dict):
        raise EnvelopeError("unprotected header must be a map")
    _check_labels(unprotected, "unprotected")
    if not isinstance(payload, bytes):
        raise EnvelopeError("payload must be embedded as a bstr (detached payloads are not used)")
    if not isinstance(signature, bytes) or not signature:
        raise EnvelopeError("signature must be a non-empty bstr")
    return protected_bytes, unprotected, payload, signature


def _decode_protected(protected_bytes: bytes) -> dict[Any, Any]:
    protected = decode_header(protected_bytes, allowed_tags=frozenset({EPOCH_TAG}))
    if not isinstance(protected, dict):
        raise EnvelopeError("protected header must be a map")
    _check_labels(protected, "protected")
    # signature-envelope-cose.md: x5chain is REQUIRED unprotected and "optionally, this
    # header can be presented in the protected header" too; as notation, the unprotected
    # one is the chain, so a protected copy is tolerated and not read.
    return protected


def _check_crit(protected: Mapping[Any, Any]) -> list[str | int]:
    crit = protected.get(CRIT)
    if not isinstance(crit, list) or not crit:
        raise EnvelopeError("protected header must have a non-empty crit array")
    for label in crit:
        if not isinstance(label, str | int) or isinstance(label, bool):
            raise EnvelopeError("crit labels must be integers or strings")
        if label not in protected:
            raise EnvelopeError(f"missing critical header: {label}")
    unknown = [label for label in crit if label not in _KNOWN_PROTECTED]
    if unknown:
        raise EnvelopeError(
            f"unknown critical headers (the specification requires rejection): {unknown}"
        )
    return crit


def _check_times(
    protected: Mapping[Any, Any], scheme: str, crit: list[str | int]
) -> tuple[datetime, datetime | None]:
    required_critical = [HEADER_SIGNING_SCHEME]
    if HEADER_EXPIRY in protected:
        required_critical.append(HEADER_EXPIRY)
    time_label = HEADER_SIGNING_TIME
    if scheme == SCHEME_X509_SIGNING_AUTHORITY:
        required_critical.append(HEADER_AUTHENTIC_SIGNING_TIME)
        time_label = HEADER_AUTHENTIC_SIGNING_TIME
    missing = [h for h in required_critical if h not in crit]
    if missing:
        raise EnvelopeError(f"these required headers are not marked as critical: {missing}")
    if time_label not in protected:
        raise EnvelopeError(f"missing {time_label}")
    signing_time = _time_value(protected[time_label], time_label)
    expiry = None
    if HEADER_EXPIRY in protected:
        expiry = _time_value(protected[HEADER_EXPIRY], HEADER_EXPIRY)
        if expiry <= signing_time:
            raise EnvelopeError("expiry is not after the signing time")
    return signing_time, expiry


def _read_chain(unprotected: Mapping[Any, Any]) -> tuple[x509.Certificate, ...]:
    chain_raw = unprotected.get(X5CHAIN)
    if (
        not isinstance(chain_raw, list)
        or not chain_raw
        or not all(isinstance(c, bytes) for c in chain_raw)
    ):
        raise EnvelopeError("certificate chain is not present (x5chain must be an array of bstr)")
    return tuple(_certificate(n, der) for n, der in enumerate(chain_raw, 1))


def _certificate(n: int, der: bytes) -> x509.Certificate:
    try:
        return load_certificate(der)
    except CertificateError as exc:
        raise EnvelopeError(f"x5chain holds an invalid certificate (#{n}): {exc}") from None


def parse_envelope(data: bytes) -> ParsedEnvelope:
    """Decode and check the structure; raises EnvelopeError naming the broken rule."""
    with untrusted("malformed COSE envelope", EnvelopeError):
        return _parse_envelope(data)


def _parse_envelope(data: bytes) -> ParsedEnvelope:
    protected_bytes, unprotected, payload, signature = _decode_sign1(data)
    protected = _decode_protected(protected_bytes)

    alg_id = protected.get(ALG)
    algorithm = BY_COSE_ID.get(alg_id) if isinstance(alg_id, int) else None
    if algorithm is None:
        raise EnvelopeError(f"unsupported or missing signature algorithm {alg_id!r}")
    crit = _check_crit(protected)
    cty = protected.get(CTY)
    if cty != NOTARY_PAYLOAD_CTY:
        raise EnvelopeError(f"payload content type {cty!r} not supported")
    scheme = protected.get(HEADER_SIGNING_SCHEME)
    if scheme not in (SCHEME_X509, SCHEME_X509_SIGNING_AUTHORITY):
        raise EnvelopeError(f"unsupported signing scheme {scheme!r}")
    signing_time, expiry = _check_times(protected, scheme, crit)

    chain = _read_chain(unprotected)
    # informational and unsigned: notation-core-go reads it only when it is a text string
    agent = unprotected.get(HEADER_SIGNING_AGENT)
    if not isinstance(agent, str):
        agent = None
    tst = unprotected.get(HEADER_TIMESTAMP_SIGNATURE)
    if tst is not None and not isinstance(tst, bytes):
        raise EnvelopeError("timestampSignature must be a bstr")

    return ParsedEnvelope(
        raw=data,
        protected_bytes=protected_bytes,
        protected=protected,
        unprotected=unprotected,
        payload=payload,
        signature=signature,
        algorithm=algorithm,
        signing_scheme=scheme,
        signing_time=signing_time,
        expiry=expiry,
        chain=chain,
        signing_agent=agent,
        critical=tuple(crit),
    )


def verify_signature(
    public_key: object, algorithm: Algorithm, data: bytes, signature: bytes
) -> None:
    """Check a raw PS*/ES* signature over ``data``; SignatureVerificationError if it fails."""
    try:
        if algorithm.is_ec:
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise SignatureVerificationError("the certificate key does not match the algorithm")
            n = algorithm.ec_coordinate_size
            if len(signature) != 2 * n:
                raise SignatureVerificationError(
                    f"ECDSA signature must be {2 * n} bytes (raw r||s), got {len(signature)}"
                )
            der = utils.encode_dss_signature(
                int.from_bytes(signature[:n], "big"), int.from_bytes(signature[n:], "big")
            )
            public_key.verify(der, data, ec.ECDSA(algorithm.hash_algorithm()))
        else:
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureVerificationError("the certificate key does not match the algorithm")
            public_key.verify(
                signature,
                data,
                padding.PSS(
                    mgf=padding.MGF1(algorithm.hash_algorithm()), salt_length=algorithm.digest_size
                ),
                algorithm.hash_algorithm(),
            )
    except InvalidSignature:
        raise SignatureVerificationError("signature is invalid") from None
    except UNTRUSTED_INPUT_ERRORS as exc:  # e.g. a key cryptography cannot use
        raise SignatureVerificationError(f"signature is invalid: {describe(exc)}") from None


def verify_envelope_signature(envelope: ParsedEnvelope) -> None:
    """Integrity: the algorithm matches the leaf key and the signature verifies."""
    leaf = envelope.chain[0]
    try:
        spec = key_spec_of_certificate(leaf)
    except UnsupportedKeyError as exc:
        raise SignatureVerificationError(f"leaf certificate: {exc}") from None
    if spec.algorithm != envelope.algorithm:
        raise SignatureVerificationError(
            f"signature algorithm {envelope.algorithm.name} does not match the leaf key "
            f"({spec.label} requires {spec.algorithm.name})"
        )
    verify_signature(
        leaf.public_key(), envelope.algorithm, envelope.to_be_signed(), envelope.signature
    )
