"""Leaves a Notary verifier must refuse, made with `cryptography`, and what each error says."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from signer.algorithms import key_spec_of_public_key
from signer.certs import validate_chain, validate_leaf
from signer.envelope import build_envelope
from signer.errors import CertificateError, ConfigurationError, UnsupportedKeyError
from signer.mediatypes import COSE_MEDIA_TYPE
from signer.models import Descriptor
from signer.payload import build_payload
from signer.signers.local import LocalSigner
from signer.verifier import Verifier
from tests.verifier import pki

SUBJECT = Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "ab" * 32, 391)

BAD_LEAVES: dict[str, tuple[dict[str, Any], str]] = {
    "keycertsign": (
        {"key_usage": {"digital_signature": True, "key_cert_sign": True}},
        "keyUsage must be digitalSignature only, found key_cert_sign",
    ),
    "key-encipherment": (
        {"key_usage": {"digital_signature": True, "key_encipherment": True}},
        "found key_encipherment",
    ),
    "no-digital-signature": (
        {"key_usage": {"content_commitment": True}},
        "keyUsage must include digitalSignature",
    ),
    "eku-serverauth": (
        {"eku": (ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.SERVER_AUTH)},
        "extendedKeyUsage must not contain serverAuth",
    ),
    "eku-timestamping": (
        {"eku": (ExtendedKeyUsageOID.TIME_STAMPING,)},
        "extendedKeyUsage must not contain timeStamping",
    ),
    "ca-true": (
        {"ca": True, "key_usage": {"digital_signature": True}},
        "is a CA certificate (basicConstraints cA=true)",
    ),
}


def _leaf(**kwargs: Any) -> tuple[Any, Any, Any]:
    root_key, leaf_key = pki.key("p384"), pki.key("rsa2048")
    root = pki.certificate(root_key, pki.name("Root CA"), ca=True)
    leaf = pki.certificate(
        leaf_key, pki.name("Leaf"), issuer_key=root_key, issuer=root.subject, **kwargs
    )
    return leaf_key, leaf, root


@pytest.mark.parametrize(("kwargs", "message"), BAD_LEAVES.values(), ids=BAD_LEAVES.keys())
def test_non_notary_leaf_is_rejected(kwargs: dict[str, Any], message: str) -> None:
    _, leaf, root = _leaf(**kwargs)
    with pytest.raises(CertificateError, match=re.escape(message)):
        validate_leaf(leaf)
    with pytest.raises(CertificateError, match=re.escape(message)):
        validate_chain([leaf, root])


@pytest.mark.parametrize(("kwargs", "message"), BAD_LEAVES.values(), ids=BAD_LEAVES.keys())
def test_signature_from_non_notary_leaf_fails_integrity_at_every_level(
    kwargs: dict[str, Any], message: str, tmp_path: Any
) -> None:
    leaf_key, leaf, root = _leaf(**kwargs)
    assert isinstance(leaf_key, rsa.RSAPrivateKey)
    envelope = build_envelope(
        build_payload(SUBJECT), LocalSigner(leaf_key, [leaf, root]), signing_time=pki.NOW
    )
    pki.write_store(tmp_path, "test-root", [root])
    for level in ("strict", "permissive", "audit"):
        verifier = Verifier(pki.policy(level=level), tmp_path, now=lambda: pki.NOW)
        outcome = verifier.verify_signature(
            "registry.example/app:v1", SUBJECT, envelope, COSE_MEDIA_TYPE
        )
        assert not outcome.verified
        assert outcome.error is not None and message in outcome.error
        assert outcome.error.startswith("certificate-chain is invalid")


UNSUPPORTED_KEYS = {
    "rsa1024": "RSA key size 1024 is not supported",
    "p224": "EC curve secp224r1 is not supported",
    "ed25519": "key type Ed25519PublicKey is not supported",
}


@pytest.mark.parametrize(("kind", "message"), UNSUPPORTED_KEYS.items(), ids=UNSUPPORTED_KEYS)
def test_unsupported_leaf_keys(kind: str, message: str) -> None:
    leaf_key = pki.key(kind)
    leaf = pki.certificate(leaf_key, pki.name(f"{kind} leaf"))  # self-signed
    with pytest.raises(UnsupportedKeyError, match=re.escape(message)):
        key_spec_of_public_key(leaf.public_key())
    with pytest.raises(CertificateError, match=re.escape(message)):
        validate_leaf(leaf)
    with pytest.raises(CertificateError, match=re.escape(message)):
        validate_chain([leaf])
    if isinstance(leaf_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        with pytest.raises(UnsupportedKeyError, match=re.escape(message)):
            LocalSigner(leaf_key, [leaf])


def test_key_usage_must_be_critical_and_present() -> None:
    leaf_key = pki.key("p256")
    leaf = pki.certificate(leaf_key, pki.name("no ku"), key_usage={"digital_signature": True})
    validate_leaf(leaf)  # the conformant baseline passes
    bare = (
        pki.x509.CertificateBuilder()
        .subject_name(pki.name("bare"))
        .issuer_name(pki.name("bare"))
        .public_key(leaf_key.public_key())
        .serial_number(1)
        .not_valid_before(pki.NOT_BEFORE)
        .not_valid_after(pki.NOT_AFTER)
        .sign(leaf_key, pki.hashes.SHA256())
    )
    with pytest.raises(CertificateError, match="has no keyUsage extension"):
        validate_leaf(bare)


def test_repeated_root_is_not_a_chain() -> None:
    """notation-core-go: only the last certificate may be self-signed (fixed in certs.py)."""
    _, leaf, root = _leaf()
    validate_chain([leaf, root])
    with pytest.raises(CertificateError, match=r"intermediate certificate .* is self-signed"):
        validate_chain([leaf, root, root])


def test_chain_must_end_self_signed() -> None:
    _, leaf, _root = _leaf()
    with pytest.raises(CertificateError, match="does not end in a self-signed root"):
        validate_chain([leaf])


def test_local_signer_rejects_a_key_that_is_not_the_leafs() -> None:
    _, leaf, root = _leaf()
    other = pki.key("rsa3072")
    assert isinstance(other, rsa.RSAPrivateKey)
    with pytest.raises(ConfigurationError, match="does not match the leaf"):
        LocalSigner(other, [leaf, root])
