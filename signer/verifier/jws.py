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
from datetime import datetime
from typing import Any

from cryptography import x509

from signer.algorithms import BY_NAME
from signer.certs import load_certificate
from signer.envelope import utc_from_epoch
from signer.errors import CertificateError, EnvelopeError
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
from signer.untrusted import untrusted
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
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
# RFC 3339 date-time (what signature-envelope-jws.md requires), ASCII digits only,
# upper-case T and Z as Go's time package demands; any number of fraction digits.
_RFC3339_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    """A JSON object from UTF-8 bytes (no BOM, no UTF-16/32: Go's encoding/json reads UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvelopeError(f"JWS: {what} is not UTF-8 JSON") from None
    with untrusted(f"JWS: {what} is not valid JSON", EnvelopeError):
        # a repeated member: the last one counts, as in Go's encoding/json (notation);
        # RFC 7515 section 4 allows that instead of a rejection
        value = json.loads(text)
    if not isinstance(value, dict):
        raise EnvelopeError(f"JWS: {what} is not a JSON object")
    return value


def _b64url(value: Any, what: str) -> bytes:
    """base64url without padding (RFC 7515 section 2)."""
    if not isinstance(value, str) or not _B64URL.issuperset(value) or len(value) % 4 == 1:
        raise EnvelopeError(f"JWS: {what} is not unpadded base64url")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64std(value: Any, what: str) -> bytes:
    """Standard base64 with padding, as Go's encoding/json writes []byte."""
    if not isinstance(value, str):
        raise EnvelopeError(f"JWS: {what} must be a base64 string")
    try:
        # Go's base64.StdEncoding skips CR and LF, so notation reads a wrapped x5c
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"JWS: {what} is not standard base64") from None


def _days_in_month(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]


def _time(value: Any, name: str) -> datetime:
    """An RFC 3339 date-time as UTC (years 0000-9999 and any valid offset, like Go).

    Instants Python's datetime cannot hold (0000-…, or 9999-12-31 with a negative
    offset) are clamped to its range: they are before or after every real time anyway.
    """
    if not isinstance(value, str):
        raise EnvelopeError(f"invalid {name}: expected an RFC 3339 date-time string")
    match = _RFC3339_RE.fullmatch(value)
    if match is None:
        raise EnvelopeError(f"invalid {name}: {value[:60]!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    offset_hour, offset_minute = (0, 0) if zone == "Z" else (int(zone[1:3]), int(zone[4:6]))
    if not (
        1 <= month <= 12
        and 1 <= day <= _days_in_month(year, month)
        and hour < 24
        and minute < 60
        and second < 60
        and offset_hour < 24
        and offset_minute < 60
    ):
        raise EnvelopeError(f"invalid {name}: {value!r} has a field out of range")
    offset = (offset_hour * 60 + offset_minute) * 60 * (-1 if zone[0] == "-" else 1)
    seconds = (
        _days_from_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    )
    return utc_from_epoch(seconds, int((fraction or "0")[:6].ljust(6, "0")))


def _days_from_epoch(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01, proleptic Gregorian, any year (H. Hinnant's days_from_civil)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


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
    return tuple(_certificate(n, _b64std(c, "an x5c certificate")) for n, c in enumerate(x5c, 1))


def _certificate(n: int, der: bytes) -> x509.Certificate:
    try:
        return load_certificate(der)
    except CertificateError as exc:
        raise EnvelopeError(f"x5c holds an invalid certificate (#{n}): {exc}") from None


def parse_jws(data: bytes) -> Envelope:
    """Decode and check a JWS envelope's structure; EnvelopeError naming the broken rule."""
    with untrusted("malformed JWS envelope", EnvelopeError):
        return _parse_jws(data)


def _parse_jws(data: bytes) -> Envelope:
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
