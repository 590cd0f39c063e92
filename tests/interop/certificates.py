"""Chains for the certificate cases of the corpus: one rule of notary.x509 bent at a time.

Every leaf holds the vectors' RSA-2048 key (``LEAF_MATERIAL``), the key the base envelope
is signed with, so the signature stays valid and only the certificate rules are at stake.
Each call makes a fresh chain; its last certificate is the one to trust.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.signers import vectors
from tests.verifier import pki

LEAF_MATERIAL = "rsa2048-chain"
Chain = tuple[x509.Certificate, ...]


def _leaf_key() -> rsa.RSAPrivateKey:
    key = vectors.private_key(LEAF_MATERIAL)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _root(*, basic_constraints_critical: bool) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = pki.key("rsa3072")
    assert isinstance(key, rsa.RSAPrivateKey)
    subject = pki.name("Interop Root")
    if basic_constraints_critical:
        return key, pki.certificate(key, subject, ca=True)
    usage = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment"),
        False,
    )
    usage |= dict.fromkeys(("key_agreement", "encipher_only", "decipher_only"), False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.NOT_BEFORE)
        .not_valid_after(pki.NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=False)
        .add_extension(x509.KeyUsage(**usage, key_cert_sign=True, crl_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issued_leaf(*, basic_constraints_critical: bool = True, **leaf: Any) -> Chain:
    """A leaf (``pki.certificate`` keywords bend it) under a fresh root."""
    root_key, root = _root(basic_constraints_critical=basic_constraints_critical)
    cert = pki.certificate(
        _leaf_key(), pki.name("Interop Leaf"), issuer_key=root_key, issuer=root.subject, **leaf
    )
    return cert, root


_SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")  # OID 1.2.840.113549.1.1.11
_SHA1_WITH_RSA = bytes.fromhex("06092a864886f70d010105")  # OID 1.2.840.113549.1.1.5


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + content


def sha1_self_signed() -> Chain:
    """A Notary-conformant self-signed leaf whose signature is sha1WithRSAEncryption.

    cryptography refuses to sign a certificate with SHA-1, so a SHA-256 one has its
    to-be-signed part given the SHA-1 algorithm identifier (same length) and signed again.
    """
    key = _leaf_key()
    made = pki.certificate(key, pki.name("Interop SHA-1 Self-Signed"))
    tbs = made.tbs_certificate_bytes.replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA, 1)
    value = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - the point of it
    algorithm = _der(0x30, _SHA1_WITH_RSA + b"\x05\x00")
    cert = x509.load_der_x509_certificate(_der(0x30, tbs + algorithm + _der(0x03, b"\0" + value)))
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha1"
    return (cert,)
