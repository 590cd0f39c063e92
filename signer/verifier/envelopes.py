"""One view of a signature envelope, whatever its format.

notation-core-go turns COSE and JWS envelopes into the same ``EnvelopeContent``
(payload + signer info) before any policy check; ``Envelope`` is that here, so
the verifier never branches on the format. ``parse(media_type, blob)`` picks the
parser from the signature layer's media type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from signer.algorithms import key_spec_of_certificate
from signer.envelope import parse_envelope as parse_cose
from signer.envelope import verify_signature
from signer.errors import EnvelopeError, SignatureVerificationError, UnsupportedKeyError
from signer.mediatypes import COSE_MEDIA_TYPE, HEADER_TIMESTAMP_SIGNATURE, JWS_MEDIA_TYPE
from signer.verifier.content import Envelope
from signer.verifier.jws import parse_jws

__all__ = ["PARSERS", "Envelope", "UnsupportedEnvelopeError", "parse", "verify_integrity"]


class UnsupportedEnvelopeError(EnvelopeError):
    """The signature layer's media type is not a Notary envelope format we read."""

    code = "unsupported_envelope"


def _from_cose(data: bytes) -> Envelope:
    env = parse_cose(data)
    tst = env.unprotected.get(HEADER_TIMESTAMP_SIGNATURE)
    return Envelope(
        media_type=COSE_MEDIA_TYPE,
        raw=data,
        payload=env.payload,
        signature=env.signature,
        signed_bytes=env.to_be_signed(),
        algorithm=env.algorithm,
        signing_scheme=env.signing_scheme,
        signing_time=env.signing_time,
        expiry=env.expiry,
        chain=env.chain,
        signing_agent=env.signing_agent,
        timestamp_signature=tst if isinstance(tst, bytes) else None,
        protected=env.protected,
        critical=env.critical,
    )


PARSERS: Mapping[str, Callable[[bytes], Envelope]] = {
    COSE_MEDIA_TYPE: _from_cose,
    JWS_MEDIA_TYPE: parse_jws,
}


def parse(media_type: str, data: bytes) -> Envelope:
    """Parse a signature blob by its layer media type; EnvelopeError subclasses on failure."""
    parser = PARSERS.get(media_type)
    if parser is None:
        raise UnsupportedEnvelopeError(
            f"signature envelope media type {media_type!r} is not supported "
            f"(supported: {', '.join(PARSERS)})"
        )
    return parser(data)


def verify_integrity(envelope: Envelope) -> None:
    """The algorithm matches the leaf key and the signature verifies over the signed bytes."""
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
        leaf.public_key(), envelope.algorithm, envelope.signed_bytes, envelope.signature
    )
