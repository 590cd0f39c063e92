"""RFC 3161 timestamp countersignatures for Notary Project signatures, as notation makes
and checks them.

Signing: ``Timestamper(url, roots).timestamp(signature, hash_name, signing_chain)`` asks
the TSA for a token over the COSE signature value and checks it before returning a
``Timestamp``; ``Timestamp.token`` goes, as it is, into the COSE unprotected header
``io.cncf.notary.timestampSignature``.

Verifying: ``verify_timestamp_token(token, signature, tsa_roots)`` checks a token found in
an envelope against the roots of the policy's ``tsa:`` stores; the caller then checks the
signing chain with ``Timestamp.check_within``. ``summarize_timestamp_token`` reads a
token for display (``inspect``) without trusting it.

Errors: ``TimestampUnavailableError`` (transient: the TSA could not answer) and
``TimestampInvalidError`` (permanent: the answer or token is not acceptable), each with a
``reason`` key from ``signer.timestamp.errors``.
"""

from signer.timestamp.client import MAX_REPLY_SIZE, Timestamper
from signer.timestamp.errors import TimestampInvalidError, TimestampUnavailableError
from signer.timestamp.model import Timestamp, TimestampSummary
from signer.timestamp.roots import load_root_certificate
from signer.timestamp.verify import summarize_timestamp_token, verify_timestamp_token

__all__ = [
    "MAX_REPLY_SIZE",
    "Timestamp",
    "TimestampInvalidError",
    "TimestampSummary",
    "TimestampUnavailableError",
    "Timestamper",
    "load_root_certificate",
    "summarize_timestamp_token",
    "verify_timestamp_token",
]
