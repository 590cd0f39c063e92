"""Certificate rules of the ``notary.x509`` signing scheme.

signature-specification.md, "Certificate Requirements", as enforced by
notation-core-go x509/cert_validations.go. The signer checks its own chain with
these rules before signing anything: a signature from a non-conformant leaf is
rejected by every stock verifier, so it is better not to make it.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from signer.algorithms import key_spec_of_certificate
from signer.errors import CertificateError, UnsupportedKeyError
from signer.untrusted import UNTRUSTED_INPUT_ERRORS, describe, untrusted

# EKUs a Notary leaf must not carry (certificates for other purposes).
_FORBIDDEN_EKUS = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}
_FORBIDDEN_LEAF_USAGES = (
    "key_cert_sign",
    "crl_sign",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
)


# signature-specification.md, "Other requirements": no certificate of the chain may be
# signed with SHA1WithRSA or ECDSAWithSHA1 (notation v1.3.2 accepts a self-signed one).
_SHA1_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        x509.ObjectIdentifier("1.3.14.3.2.29"),  # the old OIW sha1WithRSASignature
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
        SignatureAlgorithmOID.DSA_WITH_SHA1,
    }
)


def _parse_now(cert: x509.Certificate) -> None:
    """Touch every field this package reads: cryptography parses them on first use."""
    for name in (cert.subject, cert.issuer):
        for attribute in name:
            _ = attribute.value
        name.rfc4514_string()
    for extension in cert.extensions:
        _ = extension.value
    cert.public_key()
    _ = cert.not_valid_before_utc, cert.not_valid_after_utc, cert.serial_number
    _ = cert.signature_algorithm_oid


#: certificates up to this size are kept parsed (real ones are 1-2 KiB; a hostile
#: envelope's huge ones are parsed each time rather than held in memory)
_CACHED_CERTIFICATE_SIZE = 8192


def load_certificate(der: bytes) -> x509.Certificate:
    """A DER certificate, fully parsed now; CertificateError for anything malformed.

    Names with invalid strings, malformed or duplicate extensions, unknown versions and
    unknown key algorithms are refused here, so no later use of the certificate can
    raise a library exception. Certificates are immutable, and the same few chains come
    by again and again (every signature of a signer carries its chain): the parsed ones
    are kept, a bounded number, by their exact bytes.
    """
    if len(der) <= _CACHED_CERTIFICATE_SIZE:
        return _load_cached(der)
    return _load(der)


@lru_cache(maxsize=256)
def _load_cached(der: bytes) -> x509.Certificate:
    return _load(der)


def _load(der: bytes) -> x509.Certificate:
    with untrusted("cannot parse certificate", CertificateError):
        cert = x509.load_der_x509_certificate(der)
        _parse_now(cert)
    return cert


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, each fully parsed; CertificateError otherwise."""
    with untrusted("cannot parse certificate", CertificateError):
        certs = x509.load_pem_x509_certificates(data)
        for cert in certs:
            _parse_now(cert)
    return certs


def subject_of(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


@lru_cache(maxsize=256)  # the signing chain's, asked on every signature
def thumbprint(cert: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the DER certificate (notation's #S256 thumbprint)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def thumbprints(chain: Sequence[x509.Certificate]) -> list[str]:
    return [thumbprint(c) for c in chain]


def _extension(
    cert: x509.Certificate, cls: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None
    except UNTRUSTED_INPUT_ERRORS as exc:  # malformed or repeated extension
        raise CertificateError(
            f"certificate {subject_of(cert)!r}: bad extension: {describe(exc)}"
        ) from None


def validate_leaf(cert: x509.Certificate) -> None:
    name = subject_of(cert)
    bc = _extension(cert, x509.BasicConstraints)
    if bc is not None and isinstance(bc.value, x509.BasicConstraints) and bc.value.ca:
        raise CertificateError(
            f"leaf certificate {name!r} is a CA certificate (basicConstraints cA=true)"
        )
    ku = _extension(cert, x509.KeyUsage)
    if ku is None or not isinstance(ku.value, x509.KeyUsage):
        raise CertificateError(f"leaf certificate {name!r} has no keyUsage extension")
    if not ku.critical:
        raise CertificateError(f"leaf certificate {name!r}: keyUsage must be marked critical")
    if not ku.value.digital_signature:
        raise CertificateError(f"leaf certificate {name!r}: keyUsage must include digitalSignature")
    found = [u for u in _FORBIDDEN_LEAF_USAGES if getattr(ku.value, u)]
    if ku.value.key_agreement and (ku.value.encipher_only or ku.value.decipher_only):
        found.append("encipher_only/decipher_only")
    if found:
        raise CertificateError(
            f"leaf certificate {name!r}: keyUsage must be digitalSignature only, "
            f"found {', '.join(found)}"
        )
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if eku is not None and isinstance(eku.value, x509.ExtendedKeyUsage):
        bad = [label for oid, label in _FORBIDDEN_EKUS.items() if oid in eku.value]
        if bad:
            raise CertificateError(
                f"leaf certificate {name!r}: extendedKeyUsage must not contain {', '.join(bad)}"
            )
    try:
        key_spec_of_certificate(cert)
    except UnsupportedKeyError as exc:
        raise CertificateError(f"leaf certificate {name!r}: {exc}") from None


def _validate_ca(cert: x509.Certificate, below: int) -> None:
    """``below`` = number of CA certificates between this one and the leaf."""
    name = subject_of(cert)
    bc = _extension(cert, x509.BasicConstraints)
    if bc is None or not isinstance(bc.value, x509.BasicConstraints) or not bc.value.ca:
        raise CertificateError(f"CA certificate {name!r}: basicConstraints cA=true is required")
    if not bc.critical:
        raise CertificateError(f"CA certificate {name!r}: basicConstraints must be marked critical")
    if bc.value.path_length is not None and below > bc.value.path_length:
        raise CertificateError(f"CA certificate {name!r}: path length constraint exceeded")
    ku = _extension(cert, x509.KeyUsage)
    if ku is None or not isinstance(ku.value, x509.KeyUsage) or not ku.critical:
        raise CertificateError(
            f"CA certificate {name!r}: a critical keyUsage extension is required"
        )
    if not ku.value.key_cert_sign:
        raise CertificateError(f"CA certificate {name!r}: keyUsage must include keyCertSign")
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise CertificateError(f"CA certificate {name!r}: RSA key shorter than 2048 bits")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.key_size < 256:
        raise CertificateError(f"CA certificate {name!r}: EC key shorter than 256 bits")
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise CertificateError(f"CA certificate {name!r}: only RSA and EC keys are supported")


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except UNTRUSTED_INPUT_ERRORS:  # wrong issuer, bad signature, unusable key or algorithm
        return False
    return True


def _check_signature_algorithm(cert: x509.Certificate) -> None:
    if cert.signature_algorithm_oid in _SHA1_SIGNATURES:
        raise CertificateError(
            f"certificate {subject_of(cert)!r} is signed with SHA-1, which the Notary "
            "specification forbids for every certificate of the chain"
        )


def _check_validity(cert: x509.Certificate, at: datetime, what: str) -> None:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise CertificateError(
            f"certificate {subject_of(cert)!r} is not valid at {what} {at:%Y-%m-%dT%H:%M:%SZ} "
            f"(valid {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
            f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})"
        )


def validate_chain(
    chain: Sequence[x509.Certificate],
    *,
    signing_time: datetime | None = None,
    verification_time: datetime | None = None,
) -> None:
    """Leaf first, root last: each certificate issued by the next, ending self-signed."""
    if not chain:
        raise CertificateError("certificate chain is empty")
    ders = b"".join(
        hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).digest() for c in chain
    )
    _check_structure(hashlib.sha256(ders).digest(), chain)
    for cert in chain:
        if signing_time is not None:
            _check_validity(cert, signing_time, "signing time")
        if verification_time is not None:
            _check_validity(cert, verification_time, "verification time")


_STRUCTURE_OK: OrderedDict[bytes, None] = OrderedDict()  # by a hash over the chain
_STRUCTURE_LOCK = threading.Lock()
_STRUCTURE_CACHE = 64


def _check_structure(key: bytes, chain: Sequence[x509.Certificate]) -> None:
    """The time-independent rules, checked once per distinct chain (they cannot change)."""
    with _STRUCTURE_LOCK:
        if key in _STRUCTURE_OK:
            _STRUCTURE_OK.move_to_end(key)
            return
    _structure_rules(chain)
    with _STRUCTURE_LOCK:
        _STRUCTURE_OK[key] = None
        while len(_STRUCTURE_OK) > _STRUCTURE_CACHE:
            _STRUCTURE_OK.popitem(last=False)


def _structure_rules(chain: Sequence[x509.Certificate]) -> None:
    for cert in chain:
        _check_signature_algorithm(cert)
    validate_leaf(chain[0])
    for i in range(1, len(chain)):
        _validate_ca(chain[i], below=i - 1)
    for i, (child, parent) in enumerate(itertools.pairwise(chain)):
        # notation-core-go: a self-signed certificate may only end the chain (a
        # repeated root or a self-signed leaf in front of a CA is not a chain).
        if child.issuer == child.subject and _issued_by(child, child):
            role = "leaf" if i == 0 else "intermediate"
            raise CertificateError(
                f"{role} certificate {subject_of(child)!r} is self-signed: only the last "
                "certificate of the chain may be"
            )
        if child.issuer != parent.subject or not _issued_by(child, parent):
            raise CertificateError(
                f"certificate chain is invalid: {subject_of(child)!r} is not issued by "
                f"{subject_of(parent)!r}"
            )
    root = chain[-1]
    if root.issuer != root.subject or not _issued_by(root, root):
        raise CertificateError(
            f"certificate chain does not end in a self-signed root ({subject_of(root)!r})"
        )
