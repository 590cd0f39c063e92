"""Does the TSA's answer answer our request? tspclient-go ``Response.Validate``.

Status granted or grantedWithMods; a token; TSTInfo version 1; the policy asked for (when
one was); the message imprint exactly as sent (hash algorithm with its parameters, and
the digest); genTime in UTC; our nonce; and, since certReq was set, a TSA signing
certificate inside the token. The token's signature and chain are checked afterwards
(``signed.verify_token``), as notation-core-go internal/timestamp does.
"""

from __future__ import annotations

from signer.timestamp.errors import (
    IMPRINT,
    MALFORMED,
    NONCE,
    POLICY,
    REJECTED,
    SIGNING_CERTIFICATE,
    TSA_BUSY,
    UNSUPPORTED,
    TimestampInvalidError,
    TimestampUnavailableError,
)
from signer.timestamp.request import TimestampRequest
from signer.timestamp.signed import signing_certificate
from signer.timestamp.token import SignedToken, StatusInfo, parse_response, parse_token

_STATUS_NAMES = {
    0: "granted",
    1: "granted with modifications",
    2: "rejected",
    3: "waiting",
    4: "revocation warning",
    5: "revocation notification",
}
# Statuses and failures that say "not now" rather than "not this request".
_BUSY_FAILURES = frozenset({"time_not_available", "system_failure"})
_WAITING = 3
_TEXT_LIMIT = 120


def _status_text(status: StatusInfo) -> str:
    name = _STATUS_NAMES.get(status.status, "unknown")
    text = f"status {status.status} ({name})"
    if status.failures:
        text += f", failure info: {', '.join(sorted(status.failures))}"
    if status.texts:
        # the TSA's own words, printable characters only and bounded
        words = "".join(c for c in " ".join(status.texts) if c.isprintable())[:_TEXT_LIMIT]
        text += f", {words!r}"
    return text


def check_status(status: StatusInfo) -> None:
    if status.status in (0, 1):
        return
    message = f"the TSA did not grant a timestamp: {_status_text(status)}"
    if status.status == _WAITING or status.failures & _BUSY_FAILURES:
        raise TimestampUnavailableError(message, reason=TSA_BUSY)
    raise TimestampInvalidError(message, reason=REJECTED)


def token_for_request(reply: bytes, request: TimestampRequest) -> SignedToken:
    """The token in ``reply`` if the reply answers ``request``; raises otherwise."""
    response = parse_response(reply)
    check_status(response.status)
    if response.token is None:
        raise TimestampInvalidError(
            "the TSA granted the request but sent no timestamp token", reason=MALFORMED
        )
    token = parse_token(response.token)
    info = token.info
    if info.version != 1:
        raise TimestampInvalidError(
            f"timestamp token info version must be 1, but got {info.version}", reason=UNSUPPORTED
        )
    if request.policy is not None and info.policy != request.policy:
        raise TimestampInvalidError(
            f"policy in response {info.policy} does not match policy in request {request.policy}",
            reason=POLICY,
        )
    if (
        info.hash_algorithm_der != request.hash_algorithm_der
        or info.hashed_message != request.digest
    ):
        raise TimestampInvalidError(
            "the answer is for another request: message imprint in response does not match "
            "the request",
            reason=IMPRINT,
        )
    if not info.gen_time_is_utc:
        raise TimestampInvalidError("TSTInfo genTime must be in UTC", reason=MALFORMED)
    if info.nonce != request.nonce:
        raise TimestampInvalidError(
            "the answer is for another request: nonce in response does not match nonce in request",
            reason=NONCE,
        )
    if request.cert_req:
        for signer_info in token.signer_infos:
            try:
                signing_certificate(token, signer_info)
                break
            except TimestampInvalidError:
                continue
        else:
            raise TimestampInvalidError(
                "certReq is True in request, but did not find any TSA signing certificate in "
                "the response",
                reason=SIGNING_CERTIFICATE,
            )
    return token
