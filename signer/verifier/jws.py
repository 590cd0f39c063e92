"""Notary JWS envelopes (``application/jose+json``), read and checked, never written.

signature-envelope-jws.md; rules as notation-core-go signature/jws enforces them:
flattened JSON serialization; protected header with ``alg`` (PS*/ES*), ``cty``,
``crit``, the signing scheme and an RFC 3339 signing time; ``x5c`` (standard
base64 DER, leaf first) and the signing agent unprotected; payload and signature
base64url without padding; the signature covers ``ASCII(protected "." payload)``.
As for COSE, an unknown header listed in ``crit`` is rejected, because the
specification says so (notation accepts it).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from cryptography import x509

from signer.algorithms import BY_NAME
from signer.errors import EnvelopeError
from signer.mediatypes import (
    HEADER_AUTHENTIC_SIGNING_TIME,
    HEADER_EXPIRY,
    HEADER_SIGNING_AGENT,
    HEADER_SIGNING_SCHEME,
    HEADER_SIGNING_TIME,
    HEADER_TIMESTAMP_SIGNATURE,
    HEADER_VERIFICATION_PLUGIN,
    HEADER_VERIFICATION_PLUGIN_MIN_VERSION,
    JWS_MEDIA_TYPE,
    NOTARY_PAYLOAD_CTY,
    SCHEME_X509,
    SCHEME_X509_SIGNING_AUTHORITY,
)
from signer.verifier.content import Envelope

_KNOWN_PROTECTED = frozenset(
    {
        "alg",
        "cty",
        "crit",
        HEADER_SIGNING_SCHEME,
        HEADER_SIGNING_TIME,
        HEADER_AUTHENTIC_SIGNING_TIME,
        HEADER_EXPIRY,
        HEADER_VERIFICATION_PLUGIN,
        HEADER_VERIFICATION_PLUGIN_MIN_VERSION,
    }
)
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")
_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise EnvelopeError(f"JWS: duplicate JSON member {key!r}")
        out[key] = value
    return out


def _json_object(data: bytes | str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates)
    except EnvelopeError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EnvelopeError(f"JWS: {what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"JWS: {what} is not a JSON object")
    return value


def _b64url(value: Any, what: str) -> bytes:
    """base64url without padding (RFC 7515 section 2)."""
    if not isinstance(value, str) or not _B64URL_RE.match(value) or len(value) % 4 == 1:
        raise EnvelopeError(f"JWS: {what} is not unpadded base64url")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64std(value: Any, what: str) -> bytes:
    """Standard base64 with padding, as Go's encoding/json writes []byte."""
    if not isinstance(value, str):
        raise EnvelopeError(f"JWS: {what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"JWS: {what} is not standard base64") from None


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise EnvelopeError(f"invalid {name}: expected an RFC 3339 date-time string")
    match = _RFC3339_RE.match(value)
    if match is None:
        raise EnvelopeError(f"invalid {name}: {value!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if zone == "Z":
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tz).astimezone(UTC)
    except (ValueError, OverflowError):
        raise EnvelopeError(f"invalid {name}: {value!r} is out of range") from None


def _check_crit(protected: dict[str, Any], scheme: str) -> tuple[str, ...]:
    crit = protected.get("crit")
    if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
        raise EnvelopeError('JWS: missing "crit" header (a non-empty array of strings)')
    for label in crit:
        if label not in protected:
            raise EnvelopeError(f"{label!r} header is marked critical but not present")
    unknown = [label for label in crit if label not in _KNOWN_PROTECTED]
    if unknown:
        raise EnvelopeError(
            f"unknown critical headers (the specification requires rejection): {unknown}"
        )
    required = [HEADER_SIGNING_SCHEME]
    if HEADER_EXPIRY in protected:
        required.append(HEADER_EXPIRY)
    if scheme == SCHEME_X509_SIGNING_AUTHORITY:
        required.append(HEADER_AUTHENTIC_SIGNING_TIME)
    missing = [h for h in required if h not in crit]
    if missing:
        raise EnvelopeError(f"these required headers are not marked as critical: {missing}")
    return tuple(crit)


def _signing_time(protected: dict[str, Any], scheme: str) -> datetime:
    if scheme == SCHEME_X509:
        if HEADER_AUTHENTIC_SIGNING_TIME in protected:
            raise EnvelopeError(f"{HEADER_AUTHENTIC_SIGNING_TIME} must not be present for {scheme}")
        label = HEADER_SIGNING_TIME
    else:
        if HEADER_SIGNING_TIME in protected:
            raise EnvelopeError(f"{HEADER_SIGNING_TIME} must not be present for {scheme}")
        label = HEADER_AUTHENTIC_SIGNING_TIME
    if label not in protected:
        raise EnvelopeError(f"missing {label}")
    return _time(protected[label], label)


def _chain(header: dict[str, Any]) -> tuple[x509.Certificate, ...]:
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        raise EnvelopeError(
            "certificate chain is not present (header.x5c must be a non-empty array)"
        )
    try:
        return tuple(x509.load_der_x509_certificate(_b64std(c, "an x5c certificate")) for c in x5c)
    except ValueError as exc:
        raise EnvelopeError(f"x5c holds an invalid certificate: {exc}") from None


def parse_jws(data: bytes) -> Envelope:
    """Decode and check a JWS envelope's structure; EnvelopeError naming the broken rule."""
    doc = _json_object(data, "envelope")
    protected_b64 = doc.get("protected")
    payload_b64 = doc.get("payload")
    header = doc.get("header")
    if not isinstance(header, dict):
        raise EnvelopeError("JWS: the unprotected header is missing or not an object")
    protected = _json_object(_b64url(protected_b64, "protected header"), "protected header")
    payload = _b64url(payload_b64, "payload")
    signature = _b64url(doc.get("signature"), "signature")
    if not signature:
        raise EnvelopeError("JWS: the signature is empty")

    alg = protected.get("alg")
    algorithm = BY_NAME.get(alg) if isinstance(alg, str) else None
    if algorithm is None:
        raise EnvelopeError(f"unsupported or missing signature algorithm {alg!r}")
    cty = protected.get("cty")
    if cty != NOTARY_PAYLOAD_CTY:
        raise EnvelopeError(f"payload content type {cty!r} not supported")
    scheme = protected.get(HEADER_SIGNING_SCHEME)
    if scheme not in (SCHEME_X509, SCHEME_X509_SIGNING_AUTHORITY):
        raise EnvelopeError(f"unsupported signing scheme {scheme!r}")
    crit = _check_crit(protected, scheme)
    signing_time = _signing_time(protected, scheme)
    expiry = None
    if HEADER_EXPIRY in protected:
        expiry = _time(protected[HEADER_EXPIRY], HEADER_EXPIRY)
        if expiry <= signing_time:
            raise EnvelopeError("expiry is not after the signing time")

    agent = header.get(HEADER_SIGNING_AGENT)
    if agent is not None and not isinstance(agent, str):
        raise EnvelopeError("signingAgent must be a string")
    tst_raw = header.get(HEADER_TIMESTAMP_SIGNATURE)
    tst = None if tst_raw is None else _b64std(tst_raw, "timestampSignature")
    assert isinstance(protected_b64, str) and isinstance(payload_b64, str)  # checked by _b64url
    return Envelope(
        media_type=JWS_MEDIA_TYPE,
        raw=data,
        payload=payload,
        signature=signature,
        signed_bytes=f"{protected_b64}.{payload_b64}".encode("ascii"),
        algorithm=algorithm,
        signing_scheme=scheme,
        signing_time=signing_time,
        expiry=expiry,
        chain=_chain(header),
        signing_agent=agent or None,
        timestamp_signature=tst,
        protected=protected,
        critical=crit,
    )
