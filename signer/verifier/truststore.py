"""notation's X.509 trust store: ``<dir>/x509/<type>/<name>/<files>``.

Read the way notation-go verifier/truststore does it, so the same directory works
for both tools: every regular file in the named store must hold at least one PEM
or DER certificate; a sub-directory or symlink in the store is an error rather
than something silently ignored (a misconfigured store should be loud); every
certificate must be a CA or a self-signed certificate, and a ``tsa`` store holds root CA
certificates only (self-issued, self-signed, and allowed to sign certificates).
"""

from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PSS, PKCS1v15

from signer.certs import load_certificate, load_pem_certificates
from signer.errors import CertificateError, ConfigurationError
from signer.timestamp.chain import raw_issuer, raw_subject
from signer.untrusted import UNTRUSTED_INPUT_ERRORS
from signer.verifier.trustpolicy import StoreType

_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]+\Z")  # \Z, not $: no trailing newline


def _read_certificates(path: Path, label: str) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read {str(path)!r} in trust store {label}: {exc.strerror}"
        ) from None
    try:
        if b"-----BEGIN" in data:
            return load_pem_certificates(data)
        return [load_certificate(data)]
    except CertificateError as exc:
        raise ConfigurationError(
            f"could not parse a certificate from {str(path)!r} in trust store {label}: every "
            f"file in a trust store must hold PEM or DER certificates ({exc})"
        ) from None


def _is_ca_or_self_signed(cert: x509.Certificate) -> bool:
    """notation-go ValidateCertificates: cA=true, or the certificate's own key verifies it.

    Like Go's Certificate.CheckSignature this checks only the signature (names are not
    compared) and accepts SHA-1: whether a SHA-1 chain is acceptable is the signature
    rules' business (it is not: certs.validate_chain), not the store's.
    """
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        if bc.value.ca:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        return _self_signature_verifies(cert)
    except UNTRUSTED_INPUT_ERRORS:  # bad signature, unknown algorithm or unusable key
        return False


def _self_signature_verifies(cert: x509.Certificate) -> bool:
    key = cert.public_key()
    algorithm = cert.signature_hash_algorithm
    parameters = cert.signature_algorithm_parameters
    if algorithm is None:  # Ed25519/Ed448: cryptography checks these itself
        cert.verify_directly_issued_by(cert)
    elif isinstance(key, rsa.RSAPublicKey) and isinstance(parameters, PKCS1v15 | PSS):
        key.verify(cert.signature, cert.tbs_certificate_bytes, parameters, algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
    else:
        return False
    return True


def _may_sign_certificates(cert: x509.Certificate) -> str | None:
    """Go's CheckSignatureFrom parent rules: cA=true (or a v1 certificate), and keyCertSign
    when keyUsage is present."""
    if cert.version != x509.Version.v3:
        return None
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "it is not a CA (basicConstraints cA is false)"
    except x509.ExtensionNotFound:
        return "it is not a CA (no basicConstraints)"
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            return "its keyUsage does not allow keyCertSign"
    except x509.ExtensionNotFound:
        pass
    return None


def _root_ca_problem(cert: x509.Certificate) -> str | None:
    """notation-go isRootCACertificate: ``cert.CheckSignatureFrom(cert)`` and the raw issuer
    equals the raw subject."""
    problem = _may_sign_certificates(cert)
    if problem is not None:
        return problem
    try:
        verifies = _self_signature_verifies(cert)
    except UNTRUSTED_INPUT_ERRORS:
        verifies = False
    if not verifies:
        return "its own key does not verify its signature"
    if raw_issuer(cert) != raw_subject(cert):
        return "issuer and subject are not the same"
    return None


class TrustStore:
    """Named certificate collections under one directory; loaded on demand, then cached."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._cache: dict[tuple[StoreType, str], tuple[x509.Certificate, ...]] = {}

    def certificates(self, store_type: StoreType, name: str) -> tuple[x509.Certificate, ...]:
        """All certificates of one named store; ConfigurationError if it is absent or bad."""
        key = (store_type, name)
        if key not in self._cache:
            try:
                self._cache[key] = self._load(store_type, name)
            except OSError as exc:  # e.g. a name too long for the file system
                raise ConfigurationError(
                    f"trust store {store_type}:{name[:80]}: {exc.strerror or exc}"
                ) from None
        return self._cache[key]

    def _load(self, store_type: StoreType, name: str) -> tuple[x509.Certificate, ...]:
        if not _NAME_RE.match(name):
            raise ConfigurationError(f"trust store name {name!r} must match [a-zA-Z0-9_.-]+")
        path = self.root / "x509" / str(store_type) / name
        label = f"{store_type}:{name}"
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise ConfigurationError(
                f"trust store {label} ({path}) is not a regular directory (symlinks are "
                "not supported)"
            )
        if not path.is_dir():
            raise ConfigurationError(f"trust store {label} does not exist: {path} is missing")
        certificates: list[x509.Certificate] = []
        try:
            entries = sorted(path.iterdir())
        except OSError as exc:
            raise ConfigurationError(
                f"cannot list trust store {label} ({path}): {exc.strerror}"
            ) from None
        for entry in entries:
            if entry.is_symlink() or not entry.is_file():
                raise ConfigurationError(
                    f"{entry} in trust store {label} is not a regular file (directories and "
                    "symlinks are not supported)"
                )
            certs = _read_certificates(entry, label)
            if not certs:
                raise ConfigurationError(f"{entry} in trust store {label} holds no certificate")
            for cert in certs:
                if not _is_ca_or_self_signed(cert):
                    raise ConfigurationError(
                        f"certificate {cert.subject.rfc4514_string()!r} in {entry} is neither a "
                        "CA certificate nor a self-signed signing certificate"
                    )
                problem = _root_ca_problem(cert) if store_type == StoreType.TSA else None
                if problem is not None:
                    raise ConfigurationError(
                        f"certificate {cert.subject.rfc4514_string()!r} in {entry} is not a root "
                        f"CA certificate, which a trust store of type tsa requires: {problem}"
                    )
            certificates.extend(certs)
        if not certificates:
            raise ConfigurationError(f"trust store {label} ({path}) has no certificates")
        return tuple(certificates)
