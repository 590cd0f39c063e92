"""A development signing certificate, Notary-conformant, and a trust store that trusts it.

Writes, under a git-ignored folder (default ``.dev/``):
  signing/key.pem, signing/chain.pem       the key and self-signed leaf the local signer uses
  truststore/x509/ca/dev/dev.pem           notation's trust-store layout
  trustpolicy.json                         a notation trust policy (strict) for that store

The leaf follows the notary.x509 rules: keyUsage critical digitalSignature only,
EKU codeSigning, basicConstraints cA=false, RSA-2048. Never use it outside development.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acr-notary-signer development"),
        x509.NameAttribute(NameOID.COMMON_NAME, "acr-notary-signer dev signing"),
    ]
)
IDENTITY = (
    "x509.subject: C=US, ST=WA, L=Seattle, O=acr-notary-signer development, "
    "CN=acr-notary-signer dev signing"
)


def make_certificate(days: int = 365) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(SUBJECT)
        .issuer_name(SUBJECT)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def ensure_dev_certificate(root: Path, registry_scope: str = "*") -> dict[str, Path]:
    """Create the files once; reuse them while the certificate is valid for a week more."""
    paths = {
        "key": root / "signing" / "key.pem",
        "chain": root / "signing" / "chain.pem",
        "truststore": root / "truststore",
        "trustpolicy": root / "trustpolicy.json",
    }
    cert_path = paths["chain"]
    if cert_path.exists() and paths["key"].exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc > datetime.now(UTC) + timedelta(days=7):
            _write_policy(paths, cert, registry_scope)
            return paths
    key, cert = make_certificate()
    paths["key"].parent.mkdir(parents=True, exist_ok=True)
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths["key"].chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_policy(paths, cert, registry_scope)
    return paths


def _write_policy(paths: dict[str, Path], cert: x509.Certificate, scope: str) -> None:
    store = paths["truststore"] / "x509" / "ca" / "dev"
    store.mkdir(parents=True, exist_ok=True)
    (store / "dev.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    policy = {
        "version": "1.0",
        "trustPolicies": [
            {
                "name": "dev",
                "registryScopes": [scope],
                "signatureVerification": {"level": "strict"},
                "trustStores": ["ca:dev"],
                "trustedIdentities": [IDENTITY],
            }
        ],
    }
    paths["trustpolicy"].write_text(json.dumps(policy, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, default=Path(".dev"))
    args = parser.parse_args()
    for name, path in ensure_dev_certificate(args.dir).items():
        print(f"{name:12} {path}")


if __name__ == "__main__":
    main()
