"""The TSA root a signer trusts (``--timestamp-root-cert`` / SIGNER_TIMESTAMP_ROOT_CERT).

notation's rule (notation internal/x509 ``NewRootCertPool``): the file holds exactly one
certificate, PEM or DER, and it is a root: self-issued and self-signed.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from signer.certs import subject_of
from signer.errors import ConfigurationError
from signer.timestamp.chain import CRYPTO_ERRORS, raw_issuer, raw_subject


def is_root(cert: x509.Certificate) -> bool:
    if raw_issuer(cert) != raw_subject(cert):
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except CRYPTO_ERRORS:
        return False
    return True


def check_roots(roots: Sequence[x509.Certificate], source: str = "TSA root") -> None:
    if not roots:
        raise ConfigurationError(f"{source}: no TSA root certificate given")
    for cert in roots:
        if not is_root(cert):
            raise ConfigurationError(
                f"{source}: certificate {subject_of(cert)!r} is not a root certificate "
                "(self-issued and self-signed)"
            )


def load_root_certificate(data: bytes, source: str = "TSA root certificate") -> x509.Certificate:
    """The single root certificate in ``data`` (PEM or DER), as notation reads the file."""
    try:
        certs = (
            x509.load_pem_x509_certificates(data)
            if b"-----BEGIN" in data
            else [x509.load_der_x509_certificate(data)]
        )
    except (ValueError, x509.InvalidVersion):
        raise ConfigurationError(f"{source}: not a PEM or DER certificate") from None
    if len(certs) != 1:
        raise ConfigurationError(
            f"{source}: found {len(certs)} certificates, expecting a single root certificate"
        )
    check_roots(certs, source)
    return certs[0]
