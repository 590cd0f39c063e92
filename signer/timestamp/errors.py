"""The two ways a timestamp can fail, split as ``signer.errors`` splits every failure.

``TimestampUnavailableError`` (transient): the TSA could not be asked or did not answer
in time (connection refused or reset, timeouts, the call's deadline, HTTP 5xx, 429, a
TSA that says its clock or system is failing). Retrying later can help; the caller must
not push the signature without its timestamp.

``TimestampInvalidError`` (permanent): the TSA answered, or a token was presented, and
it is not an acceptable timestamp (a rejection, garbage, an answer for another request,
a token that does not verify or whose TSA is not trusted). ``reason`` names the broken
rule with a short stable key, for tests and for the ledger.

Messages name subjects, OIDs and statuses, never raw bytes of the request or answer.
"""

from __future__ import annotations

from signer.errors import PermanentError, TransientError


class TimestampUnavailableError(TransientError):
    code = "timestamp_unavailable"

    def __init__(self, message: str, *, reason: str = "unavailable") -> None:
        super().__init__(message)
        self.reason = reason


class TimestampInvalidError(PermanentError):
    code = "timestamp_invalid"

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason

    def prefixed(self, prefix: str) -> TimestampInvalidError:
        """The same failure with where it happened in front (the reason is kept)."""
        return TimestampInvalidError(f"{prefix}: {self.message}", reason=self.reason)


# Reasons a TimestampInvalidError carries (one home for the keys tests and callers match).
MALFORMED = "malformed"  # not DER, not a TimeStampResp/TimeStampToken, wrong structure
HTTP_STATUS = "http_status"  # an HTTP status other than 200, 429 or 5xx
CONTENT_TYPE = "content_type"  # not application/timestamp-reply
TOO_LARGE = "too_large"  # the reply is over the size cap
REJECTED = "rejected"  # PKIStatus other than granted / grantedWithMods
IMPRINT = "imprint_mismatch"  # the token is not over the signature that was asked for
NONCE = "nonce_mismatch"  # the answer is for another request
POLICY = "policy_mismatch"  # another TSA policy than the one asked for
UNSUPPORTED = "unsupported"  # an algorithm or version notation does not accept
SIGNING_CERTIFICATE = "signing_certificate"  # ESS signingCertificateV2 missing or wrong
SIGNATURE = "signature"  # the SignerInfo signature or signed attributes do not verify
UNTRUSTED = "untrusted_tsa"  # the TSA chain does not lead to a configured/trusted root
EXPIRED = "tsa_certificate_expired"  # a TSA chain certificate is outside its validity
EKU = "tsa_eku"  # the TSA certificate lacks the (only, critical) timeStamping EKU
TSA_CERTIFICATE = "tsa_certificate"  # another Notary rule on the TSA chain is broken
OUTSIDE_VALIDITY = "outside_signing_validity"  # the timestamp is outside the signing chain

# Reasons a TimestampUnavailableError carries.
CONNECTION = "connection"  # refused, reset, DNS, TLS handshake
TIMEOUT = "timeout"  # connect or read timeout
DEADLINE = "deadline"  # the call's overall time ran out (a slow or trickled answer)
SERVER_ERROR = "server_error"  # HTTP 5xx
THROTTLED = "throttled"  # HTTP 429
TSA_BUSY = "tsa_busy"  # granted nothing: waiting, timeNotAvailable or systemFailure
