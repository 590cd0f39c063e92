"""Certificates and keys made in the tests, so every rule can be broken on purpose."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["hashes", "x509"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2045, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 6, 0, 0, tzinfo=UTC)
_CURVES: dict[str, ec.EllipticCurve] = {
    "p224": ec.SECP224R1(),
    "p256": ec.SECP256R1(),
    "p384": ec.SECP384R1(),
    "p521": ec.SECP521R1(),
}


@cache
def key(kind: str) -> PrivateKey:
    """rsa1024/2048/3072/4096, p224/p256/p384/p521 or ed25519; one key per kind per run."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(_CURVES[kind])


def name(
    cn: str, *, org: str = "Test Org", extra: Sequence[x509.NameAttribute[Any]] = ()
) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            *extra,
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def certificate(
    subject_key: PrivateKey,
    subject: x509.Name,
    *,
    issuer_key: PrivateKey | None = None,
    issuer: x509.Name | None = None,
    ca: bool | None = False,
    key_usage: dict[str, bool] | None = None,
    eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CODE_SIGNING,),
    not_before: datetime = NOT_BEFORE,
    not_after: datetime = NOT_AFTER,
    crl_url: str | None = None,
    path_length: int | None = None,
    basic_constraints_critical: bool = True,
) -> x509.Certificate:
    """A certificate; defaults make a Notary-conformant leaf, ``ca=True`` a CA.

    ``ca=None`` leaves basicConstraints out. Self-signed unless ``issuer_key`` is given.
    """
    signer_key = issuer_key or subject_key
    usages = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    if key_usage is None:
        key_usage = {"key_cert_sign": True, "crl_sign": True} if ca else {"digital_signature": True}
    usages.update(key_usage)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.KeyUsage(**usages), critical=True)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
            critical=basic_constraints_critical,
        )
    if eku and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    algorithm = None if isinstance(signer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer_key, algorithm)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write_store(
    root: Path, store: str, certs: Sequence[x509.Certificate], store_type: str = "ca"
) -> Path:
    path = root / "x509" / store_type / store
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{store}.pem").write_bytes(pem(*certs))
    return root


def policy(
    *,
    scopes: Sequence[str] = ("registry.example/app",),
    level: str = "strict",
    stores: Sequence[str] = ("ca:test-root",),
    identities: Sequence[str] = ("x509.subject: C=US, ST=WA, O=Test Org",),
    override: dict[str, str] | None = None,
    name: str = "test",
    **verification: Any,
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "name": name,
        "registryScopes": list(scopes),
        "signatureVerification": {"level": level, **verification},
    }
    if override:
        statement["signatureVerification"]["override"] = override
    if stores:
        statement["trustStores"] = list(stores)
    if identities:
        statement["trustedIdentities"] = list(identities)
    return {"version": "1.0", "trustPolicies": [statement]}


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2)


def private_pem(private_key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM, for ``--key`` in CLI tests."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
