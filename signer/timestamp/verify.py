"""Verifying a timestamp countersignature found in an envelope, as notation-go does
(verifier/verifier.go ``verifyTimestamp``, steps 2 and 3).

The token must be a TimeStampToken whose message imprint is the digest of the envelope's
signature value under the token's own hash algorithm (tspclient-go ``TSTInfo.Validate``);
its signature must verify with a chain to one of the trusted ``tsa:`` roots, every
certificate valid at the token's genTime (not now: a TSA certificate may expire after it
stamped); and the chain must pass notation's timestamping certificate rules. Step 4 —
the signing certificate chain must be valid over the whole time range — is
``Timestamp.check_within``, left to the caller, which holds the signing chain and knows
whether the trust policy asks for it. Revocation of the TSA chain is not checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography import x509

from signer.certs import subject_of
from signer.timestamp.chain import validate_tsa_chain
from signer.timestamp.errors import IMPRINT, UNSUPPORTED, UNTRUSTED, TimestampInvalidError
from signer.timestamp.model import Timestamp, TimestampSummary
from signer.timestamp.request import HASH_BY_OID
from signer.timestamp.signed import signing_certificate, verify_token
from signer.timestamp.token import SignedToken, parse_token


def timestamp_from(token: SignedToken, chain: Sequence[x509.Certificate]) -> Timestamp:
    """The Timestamp of a token whose chain has been verified."""
    return Timestamp(
        token=token.raw,
        time=token.info.gen_time,
        accuracy=token.info.accuracy,
        tsa_subject=subject_of(chain[0]),
        tsa_chain=tuple(chain),
        policy=token.info.policy,
    )


def check_imprint(token: SignedToken, signature: bytes) -> None:
    """tspclient-go ``TSTInfo.validate``: version 1, a known hash, the digest of ``signature``."""
    info = token.info
    if info.version != 1:
        raise TimestampInvalidError(
            f"timestamp token info version must be 1, but got {info.version}", reason=UNSUPPORTED
        )
    hash_name = HASH_BY_OID.get(info.hash_oid)
    if hash_name is None:
        raise TimestampInvalidError(
            f"unrecognized hash algorithm {info.hash_oid} in the message imprint",
            reason=UNSUPPORTED,
        )
    if hashlib.new(hash_name, signature).digest() != info.hashed_message:
        raise TimestampInvalidError(
            "mismatched message: the timestamp token is not over this signature",
            reason=IMPRINT,
        )


def verify_timestamp_token(
    token: bytes, signature: bytes, trusted_roots: Sequence[x509.Certificate]
) -> Timestamp:
    """Check a timestamp countersignature over ``signature`` (the COSE signature value).

    ``trusted_roots`` are the certificates of the policy's ``tsa:`` trust stores. Returns
    the Timestamp (its time range and TSA chain); raises TimestampInvalidError with a
    notation-like message and a ``reason`` key otherwise.
    """
    try:
        parsed = parse_token(token)
    except TimestampInvalidError as exc:
        raise exc.prefixed("failed to parse timestamp countersignature") from None
    try:
        check_imprint(parsed, signature)
    except TimestampInvalidError as exc:
        raise exc.prefixed("failed to get timestamp from timestamp countersignature") from None
    if not trusted_roots:
        raise TimestampInvalidError(
            "no trusted TSA certificate found in trust store", reason=UNTRUSTED
        )
    try:
        chain = verify_token(parsed, trusted_roots, at=parsed.info.gen_time)
    except TimestampInvalidError as exc:
        raise exc.prefixed("failed to verify the timestamp countersignature") from None
    try:
        validate_tsa_chain(chain)
    except TimestampInvalidError as exc:
        raise exc.prefixed("failed to validate the timestamping certificate chain") from None
    return timestamp_from(parsed, chain)


def summarize_timestamp_token(token: bytes, signature: bytes) -> TimestampSummary:
    """What a countersignature says, checked only for being over ``signature`` (notation
    inspect does the same): for display, never for trust."""
    try:
        parsed = parse_token(token)
        check_imprint(parsed, signature)  # notation inspect reports both the same way
    except TimestampInvalidError as exc:
        raise exc.prefixed("failed to parse timestamp countersignature") from None
    subject = None
    for info in parsed.signer_infos:
        try:
            subject = subject_of(signing_certificate(parsed, info))
            break
        except TimestampInvalidError:
            continue
    return TimestampSummary(
        time=parsed.info.gen_time,
        accuracy=parsed.info.accuracy,
        policy=parsed.info.policy,
        tsa_subject=subject,
        certificates=tuple(c.cert for c in parsed.certificates),
    )
