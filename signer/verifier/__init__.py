"""Verify Notary Project signatures as ``notation verify`` does (trust policy + trust store).

Entry points: ``Verifier`` (verify_signature / verify_signatures), ``TrustPolicyDocument``,
``TrustStore``, ``envelopes.parse`` and ``inspect.inspect_signature``.
"""

from signer.verifier.envelopes import Envelope, UnsupportedEnvelopeError, parse, verify_integrity
from signer.verifier.inspect import SignatureSummary, TimestampSignatureSummary, inspect_signature
from signer.verifier.trustpolicy import Action, Check, TrustPolicy, TrustPolicyDocument
from signer.verifier.truststore import TrustStore
from signer.verifier.verify import (
    MAX_SIGNATURES,
    ArtifactVerification,
    CheckResult,
    SignatureBlob,
    VerificationOutcome,
    Verifier,
)

__all__ = [
    "MAX_SIGNATURES",
    "Action",
    "ArtifactVerification",
    "Check",
    "CheckResult",
    "Envelope",
    "SignatureBlob",
    "SignatureSummary",
    "TimestampSignatureSummary",
    "TrustPolicy",
    "TrustPolicyDocument",
    "TrustStore",
    "UnsupportedEnvelopeError",
    "VerificationOutcome",
    "Verifier",
    "inspect_signature",
    "parse",
    "verify_integrity",
]
