"""Keys and chains from the notary vectors, loaded once per name."""

from __future__ import annotations

import functools
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CERTS = Path(__file__).resolve().parents[1] / "fixtures" / "notary-vectors" / "certs"

#: one vector per supported key type: (name, key spec label)
KEY_TYPES = [
    ("rsa2048-chain", "RSA-2048"),
    ("rsa3072", "RSA-3072"),
    ("rsa4096", "RSA-4096"),
    ("ec-p256", "EC-256"),
    ("ec-p384", "EC-384"),
    ("ec-p521", "EC-521"),
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@functools.cache
def private_key(name: str) -> PrivateKey:
    key = serialization.load_pem_private_key((CERTS / name / "key.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


@functools.cache
def chain(name: str) -> tuple[x509.Certificate, ...]:
    """Leaf first, root last."""
    return tuple(x509.load_pem_x509_certificates((CERTS / name / "chain.pem").read_bytes()))


def path(name: str, file: str) -> Path:
    return CERTS / name / file
