"""Our COSE envelopes, field by field against the ones notation v1.3.2 made.

For every positive COSE vector we sign the same payload, at the same signing time
and expiry, with the vector's key and chain, and compare with notation's bytes.
RSA-PSS and ECDSA signatures are randomised, so everything but the signature
value must be identical; the signature must have the same length.
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pycose.keys.curves import P256, P384, P521
from pycose.keys.ec2 import EC2Key
from pycose.keys.rsa import RSAKey
from pycose.messages.sign1message import Sign1Message

from signer.algorithms import ALGORITHMS
from signer.envelope import build_envelope, parse_envelope, verify_envelope_signature
from signer.mediatypes import COSE_MEDIA_TYPE
from signer.payload import build_payload, parse_payload
from signer.signers.local import LocalSigner
from tests.verifier.vectors import NOW, ROOT, SIGNING_AGENT, Case, cases

COSE_POSITIVE = [
    c
    for c in cases()
    if c.category in ("positive", "tag-schema") and c.media_type == COSE_MEDIA_TYPE
]
# One vector key per algorithm: PS256/384/512, ES256/384/512.
KEY_DIRS = {
    "PS256": "rsa2048-chain",
    "PS384": "rsa3072",
    "PS512": "rsa4096",
    "ES256": "ec-p256",
    "ES384": "ec-p384",
    "ES512": "ec-p521",
}


def _signer(cert_dir: str) -> LocalSigner:
    base = ROOT / "certs" / cert_dir
    return LocalSigner.from_files(base / "key.pem", base / "chain.pem")


def _decode(envelope: bytes) -> list[Any]:
    outer = cbor2.loads(envelope)
    assert isinstance(outer, cbor2.CBORTag) and outer.tag == 18
    assert isinstance(outer.value, list)
    return outer.value


def _rebuild(vector: Case) -> bytes:
    theirs = parse_envelope(vector.envelope)
    assert vector.cert_dir is not None
    return build_envelope(
        # the payload is rebuilt from the subject and the signed user metadata,
        # not copied, so its bytes are compared too
        build_payload(vector.subject, parse_payload(theirs.payload).annotations),
        _signer(vector.cert_dir.name),
        signing_time=theirs.signing_time,
        expiry=theirs.expiry,
        signing_agent=SIGNING_AGENT,
    )


def test_there_are_positive_cose_vectors() -> None:
    assert len(COSE_POSITIVE) >= 9


@pytest.mark.parametrize("vector", COSE_POSITIVE, ids=lambda c: c.name)
def test_envelope_matches_notation_field_by_field(vector: Case) -> None:
    ours, theirs = _rebuild(vector), vector.envelope
    o_prot, o_unprot, o_payload, o_sig = _decode(ours)
    t_prot, t_unprot, t_payload, t_sig = _decode(theirs)

    assert o_prot == t_prot  # protected header: identical bytes
    assert o_payload == t_payload
    assert len(o_sig) == len(t_sig)
    assert list(o_unprot) == list(t_unprot)  # same labels, same order
    for label, value in t_unprot.items():
        assert type(o_unprot[label]) is type(value), label
        assert o_unprot[label] == value, label
    chain = t_unprot[33]
    assert isinstance(chain, list) and all(isinstance(c, bytes) for c in chain)
    # everything before the signature value is the same byte string
    assert ours[: -len(o_sig)] == theirs[: -len(t_sig)]
    assert len(ours) == len(theirs)


@pytest.mark.parametrize("vector", COSE_POSITIVE, ids=lambda c: c.name)
def test_our_envelope_verifies_under_the_vector_policy(vector: Case) -> None:
    outcome = vector.verifier().verify_signature(
        vector.reference, vector.subject, _rebuild(vector), COSE_MEDIA_TYPE
    )
    assert outcome.verified, outcome.error


def _pycose_key(public: object) -> RSAKey | EC2Key:
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return RSAKey(
            n=numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"),
            e=numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"),
        )
    assert isinstance(public, ec.EllipticCurvePublicKey)
    curve = {"secp256r1": P256, "secp384r1": P384, "secp521r1": P521}[public.curve.name]
    size = (public.curve.key_size + 7) // 8
    point = public.public_numbers()
    return EC2Key(crv=curve, x=point.x.to_bytes(size, "big"), y=point.y.to_bytes(size, "big"))


@pytest.mark.parametrize("algorithm", sorted(KEY_DIRS))
def test_round_trip_and_pycose_cross_check(algorithm: str) -> None:
    signer = _signer(KEY_DIRS[algorithm])
    subject = COSE_POSITIVE[0].subject
    payload = build_payload(subject, {"env": "prod"})
    envelope = build_envelope(payload, signer, signing_time=NOW, signing_agent=SIGNING_AGENT)

    parsed = parse_envelope(envelope)
    assert parsed.algorithm.name == algorithm
    assert parsed.payload == payload and parsed.signing_time == NOW
    verify_envelope_signature(parsed)

    # pycose 1.1 as an independent COSE implementation
    message = Sign1Message.decode(envelope)
    message.key = _pycose_key(signer.signing_key().chain[0].public_key())
    assert message.verify_signature()
    assert message.payload == payload

    # ... and it notices a changed payload
    tampered = Sign1Message.decode(envelope)
    tampered.key = message.key
    tampered.payload = payload.replace(b"prod", b"dev!")
    assert not tampered.verify_signature()


def test_all_six_algorithms_are_covered() -> None:
    assert sorted(KEY_DIRS) == sorted(a.name for a in ALGORITHMS)
