"""Verify Notary Project signatures as ``notation verify`` does (trust policy + trust store).

Entry points: ``Verifier`` (verify_signature / verify_signatures), ``TrustPolicyDocument``,
``TrustStore``, ``envelopes.parse`` and ``inspect.inspect_signature``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from signer.verifier.envelopes import (
        Envelope,
        UnsupportedEnvelopeError,
        parse,
        verify_integrity,
    )
    from signer.verifier.inspect import (
        SignatureSummary,
        TimestampSignatureSummary,
        inspect_signature,
    )
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

# Where each name lives. Imported on first use (PEP 562): the signing path needs only the
# envelope parsers, and the rest (trust policies, inspect with its ASN.1 reader) would
# add some 85 ms to every cold start of the function app.
_HOMES = {
    "Envelope": "envelopes",
    "UnsupportedEnvelopeError": "envelopes",
    "parse": "envelopes",
    "verify_integrity": "envelopes",
    "SignatureSummary": "inspect",
    "TimestampSignatureSummary": "inspect",
    "inspect_signature": "inspect",
    "Action": "trustpolicy",
    "Check": "trustpolicy",
    "TrustPolicy": "trustpolicy",
    "TrustPolicyDocument": "trustpolicy",
    "TrustStore": "truststore",
    "MAX_SIGNATURES": "verify",
    "ArtifactVerification": "verify",
    "CheckResult": "verify",
    "SignatureBlob": "verify",
    "VerificationOutcome": "verify",
    "Verifier": "verify",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


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
