"""Where the certificate chain of a Key Vault key comes from (notation-azure-kv's three ways).

``auto`` (the default): a self-signed certificate is its own chain (certificates/get only);
any other is CA-issued and its chain is read from the certificate's secret, as
notation-azure-kv does without configuration. Both seed flows work without a flag.
``certificate``: a self-signed certificate; the certificates API alone gives the whole chain.
``secret``: a CA-issued certificate whose secret (PEM or PKCS#12) carries the chain. The
secret also holds the private key when the key is exportable: only certificates are taken
from it, and the key object is dropped at once.
``ca-bundle``: the leaf from the certificates API, intermediates and root from a PEM file.

Whatever the source, the result is ordered leaf first and ends in a self-signed root,
because that is the only shape a Notary verifier accepts in x5chain.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from signer.errors import CertificateError, ConfigurationError

PEM_CONTENT_TYPE = "application/x-pem-file"
PKCS12_CONTENT_TYPE = "application/x-pkcs12"
_MAX_CHAIN = 10


#: how a user names each source where the error is read: app setting, then CLI flag
SOURCE_OPTIONS = {
    "auto": "SIGNER_CERT_CHAIN_SOURCE=auto (CLI: no chain flag)",
    "certificate": "SIGNER_CERT_CHAIN_SOURCE=certificate (CLI: --self-signed)",
    "secret": "SIGNER_CERT_CHAIN_SOURCE=secret (CLI: --chain-from-secret)",
    "ca-bundle": "SIGNER_CERT_CHAIN_SOURCE=ca-bundle with SIGNER_CA_BUNDLE (CLI: --ca-certs FILE)",
}


class ChainSource(enum.Enum):
    AUTO = "auto"
    CERTIFICATE = "certificate"
    SECRET = "secret"  # noqa: S105 - the name of a chain source, not a password
    CA_BUNDLE = "ca-bundle"

    @classmethod
    def parse(cls, value: str | ChainSource) -> ChainSource:
        if isinstance(value, ChainSource):
            return value
        try:
            return cls(value.strip().lower())
        except ValueError:
            choices = ", ".join(c.value for c in cls)
            raise ConfigurationError(
                f"unknown certificate chain source {value!r}: use one of {choices}"
            ) from None


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def order_chain(
    leaf: x509.Certificate, others: Sequence[x509.Certificate], source: str
) -> list[x509.Certificate]:
    """Build leaf -> intermediates -> root from an unordered pile, by subject and signature.

    Certificates that are not on the leaf's path (other leaves, spare roots) are ignored:
    PKCS#12 exports often carry them, and x5chain must not.
    """
    pool = [c for c in others if _der(c) != _der(leaf)]
    chain = [leaf]
    while not is_self_signed(chain[-1]):
        if len(chain) >= _MAX_CHAIN:
            raise CertificateError(f"{source}: certificate chain longer than {_MAX_CHAIN}")
        parent = next((c for c in pool if _issued_by(chain[-1], c)), None)
        if parent is None:
            raise CertificateError(
                f"{source}: no issuer found for {chain[-1].subject.rfc4514_string()}; the chain "
                "must reach a self-signed root certificate (merge the full chain into the "
                f"certificate, or use {SOURCE_OPTIONS['ca-bundle']})"
            )
        chain.append(parent)
        pool.remove(parent)
    return chain


def self_signed_chain(leaf: x509.Certificate) -> list[x509.Certificate]:
    if not is_self_signed(leaf):
        raise CertificateError(
            f"certificate {leaf.subject.rfc4514_string()} is not self-signed, but the chain "
            f"source is {SOURCE_OPTIONS['certificate']}: for a CA-issued certificate use "
            f"{SOURCE_OPTIONS['auto']}, {SOURCE_OPTIONS['secret']} or {SOURCE_OPTIONS['ca-bundle']}"
        )
    return [leaf]


def certificates_from_secret(content_type: str | None, value: str | None) -> list[x509.Certificate]:
    """Certificates in a Key Vault certificate's secret; any private key in it is discarded.

    Error messages name the problem only: the secret's text never goes into them.
    """
    if not value:
        raise CertificateError("the certificate's secret is empty")
    if content_type == PEM_CONTENT_TYPE:
        try:
            # load_pem_x509_certificates skips the PRIVATE KEY block
            certs = x509.load_pem_x509_certificates(value.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise CertificateError("the certificate's secret is not a valid PEM file") from None
        return certs
    if content_type == PKCS12_CONTENT_TYPE:
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise CertificateError("the certificate's secret is not base64 PKCS#12") from None
        return _pkcs12_certificates(data)
    raise CertificateError(
        f"unsupported content type {content_type!r} of the certificate's secret: expected "
        f"{PEM_CONTENT_TYPE} or {PKCS12_CONTENT_TYPE}"
    )


def _pkcs12_certificates(data: bytes) -> list[x509.Certificate]:
    # Key Vault exports PKCS#12 without a password; some tools encode that as "" instead
    for password in (None, b""):
        try:
            bundle = pkcs12.load_pkcs12(data, password)
        except ValueError:
            continue
        certs = [c.certificate for c in ([bundle.cert] if bundle.cert else [])]
        certs += [c.certificate for c in bundle.additional_certs]
        del bundle  # holds the private key, if the secret had one
        return certs
    raise CertificateError("the certificate's secret is not a readable PKCS#12 file")


def load_ca_bundle(path: str | Path) -> list[x509.Certificate]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the CA bundle {path}: {exc.strerror}") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigurationError(f"the CA bundle {path} is not a PEM certificate file") from None
    if not certs:
        raise ConfigurationError(f"the CA bundle {path} holds no certificate")
    return certs


def same_certificate(a: x509.Certificate, b: x509.Certificate) -> bool:
    return _der(a) == _der(b)


def same_public_key(a: x509.Certificate, b: x509.Certificate) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_key().public_bytes(*fmt) == b.public_key().public_bytes(*fmt)
