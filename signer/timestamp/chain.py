"""The TSA certificate chain: built to a trusted root and held to notation's rules.

Two steps, as notation does them:

1. ``build_tsa_chain`` stands in for Go's ``x509.Certificate.Verify`` as tspclient-go
   calls it (token.go ``SignedToken.Verify``): a path from the TSA certificate through
   the token's certificates to one of the given roots, every certificate valid at
   ``at``, each signature made by a CA allowed to sign certificates (no SHA-1/MD5), no
   critical extension Go does not handle, and every certificate that restricts its
   extended key usage allowing timeStamping.
2. ``validate_tsa_chain`` is notation-core-go ``x509.ValidateTimestampingCertChain``:
   leaf-to-root issuance, a self-signed root (or a single self-signed TSA certificate),
   CA basicConstraints, pathLen and keyCertSign, and for the TSA certificate: not a CA,
   keyUsage with digitalSignature only (nonRepudiation allowed), exactly one extended
   key usage, timeStamping, in a critical extension (RFC 3161 2.3), and a Notary key
   (RSA 2048/3072/4096, EC P-256/384/521).

Name comparisons use the DER bytes, as Go compares RawIssuer with RawSubject.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from signer.algorithms import key_spec_of_public_key
from signer.certs import subject_of
from signer.errors import UnsupportedKeyError
from signer.timestamp.errors import (
    EKU,
    EXPIRED,
    TSA_CERTIFICATE,
    UNTRUSTED,
    TimestampInvalidError,
)

_MAX_DEPTH = 8
# Extensions Go's x509 parser understands; any other one marked critical fails Verify
# ("x509: unhandled critical extension"). Name constraints are accepted, not enforced.
_HANDLED = frozenset(
    {
        ExtensionOID.KEY_USAGE,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.POLICY_MAPPINGS,
        ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.INHIBIT_ANY_POLICY,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }
)
_INSECURE_HASHES = (hashes.SHA1, hashes.MD5)
# what cryptography raises for malformed extensions (read lazily, on first access)
_EXTENSION_ERRORS = (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)
# what cryptography raises for a signature or key it cannot check (all mean "no")
CRYPTO_ERRORS = (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm)
_FORBIDDEN_LEAF_USAGES = (
    ("key_encipherment", "KeyEncipherment"),
    ("data_encipherment", "DataEncipherment"),
    ("key_agreement", "KeyAgreement"),
    ("key_cert_sign", "CertSign"),
    ("crl_sign", "CRLSign"),
)


def _fail(message: str, reason: str) -> TimestampInvalidError:
    return TimestampInvalidError(message, reason=reason)


def der_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@lru_cache(maxsize=256)
def _raw_names(der: bytes) -> tuple[bytes, bytes]:
    tbs = asn1_x509.Certificate.load(der)["tbs_certificate"]
    return bytes(tbs["issuer"].dump()), bytes(tbs["subject"].dump())


def raw_issuer(cert: x509.Certificate) -> bytes:
    return _raw_names(der_of(cert))[0]


def raw_subject(cert: x509.Certificate) -> bytes:
    return _raw_names(der_of(cert))[1]


def _extension(
    cert: x509.Certificate, cls: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None
    except _EXTENSION_ERRORS:
        raise _fail(
            f"certificate {subject_of(cert)!r} has a malformed extension", TSA_CERTIFICATE
        ) from None


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    ext = _extension(cert, x509.BasicConstraints)
    return ext.value if ext is not None and isinstance(ext.value, x509.BasicConstraints) else None


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    ext = _extension(cert, x509.KeyUsage)
    return ext.value if ext is not None and isinstance(ext.value, x509.KeyUsage) else None


def _ekus(cert: x509.Certificate) -> tuple[list[x509.ObjectIdentifier], bool] | None:
    """(usages, critical), or None without the extension."""
    ext = _extension(cert, x509.ExtendedKeyUsage)
    if ext is None or not isinstance(ext.value, x509.ExtendedKeyUsage):
        return None
    return list(ext.value), ext.critical


def _is_ca(cert: x509.Certificate) -> bool:
    bc = _basic_constraints(cert)
    return bc is not None and bc.ca


def _signature_error(child: x509.Certificate, parent: x509.Certificate) -> str | None:
    """Why ``parent`` did not sign ``child`` (Go ``CheckSignatureFrom``), or None."""
    if parent.version is x509.Version.v3 and not _is_ca(parent):
        return f"certificate {subject_of(parent)!r} is not a CA certificate"
    usage = _key_usage(parent)
    if usage is not None and not usage.key_cert_sign:
        return f"certificate {subject_of(parent)!r} is not allowed to sign certificates"
    try:
        if isinstance(child.signature_hash_algorithm, _INSECURE_HASHES):
            return f"certificate {subject_of(child)!r} is signed with an insecure algorithm"
        child.verify_directly_issued_by(parent)
    except CRYPTO_ERRORS:
        return f"certificate {subject_of(child)!r} is not signed by {subject_of(parent)!r}"
    return None


def _usable_at(cert: x509.Certificate, at: datetime) -> TimestampInvalidError | None:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return _fail(
            f"certificate {subject_of(cert)!r} is not valid at {at:%Y-%m-%dT%H:%M:%SZ} "
            f"(valid {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
            f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})",
            EXPIRED,
        )
    try:
        extensions = list(cert.extensions)
    except _EXTENSION_ERRORS:
        return _fail(f"certificate {subject_of(cert)!r} has a malformed extension", TSA_CERTIFICATE)
    for ext in extensions:
        if ext.critical and ext.oid not in _HANDLED:
            return _fail(
                f"certificate {subject_of(cert)!r} has an unhandled critical extension "
                f"{ext.oid.dotted_string}",
                TSA_CERTIFICATE,
            )
    return None


def _allows_timestamping(cert: x509.Certificate) -> bool:
    ekus = _ekus(cert)
    if ekus is None or not ekus[0]:
        return True
    usages = ekus[0]
    return (
        ExtendedKeyUsageOID.TIME_STAMPING in usages
        or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages
    )


def _paths(
    chain: tuple[x509.Certificate, ...],
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime,
    errors: list[TimestampInvalidError],
) -> list[tuple[x509.Certificate, ...]]:
    current = chain[-1]
    issuer = raw_issuer(current)
    found: list[tuple[x509.Certificate, ...]] = []
    for kind, pool in (("root", roots), ("intermediate", intermediates)):
        for candidate in pool:
            if raw_subject(candidate) != issuer or candidate in chain:
                continue
            why = _signature_error(current, candidate)
            if why is not None:
                errors.append(_fail(why, UNTRUSTED))
                continue
            problem = _usable_at(candidate, at)
            if problem is not None:
                errors.append(problem)
                continue
            if kind == "root":
                found.append((*chain, candidate))
            elif len(chain) < _MAX_DEPTH:
                found += _paths((*chain, candidate), intermediates, roots, at, errors)
    return found


def build_tsa_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime,
) -> tuple[x509.Certificate, ...]:
    """The chain from ``leaf`` to one of ``roots``, leaf first (see the module notes)."""
    problem = _usable_at(leaf, at)
    if problem is not None:
        raise problem
    if leaf in roots:
        chains: list[tuple[x509.Certificate, ...]] = [(leaf,)]
        errors: list[TimestampInvalidError] = []
    else:
        errors = []
        chains = _paths((leaf,), intermediates, roots, at, errors)
    if not chains:
        if errors:
            raise errors[-1]
        raise _fail(
            f"the TSA certificate {subject_of(leaf)!r} does not chain to a trusted root "
            "(certificate signed by unknown authority)",
            UNTRUSTED,
        )
    for chain in chains:
        if all(_allows_timestamping(cert) for cert in chain):
            return chain
    raise _fail(
        f"the TSA certificate chain of {subject_of(leaf)!r} does not allow timestamping "
        "(a certificate specifies an incompatible extended key usage)",
        EKU,
    )


# --- notation-core-go ValidateTimestampingCertChain ---------------------------------------


def _self_signed(cert: x509.Certificate) -> bool:
    return raw_issuer(cert) == raw_subject(cert) and _signature_error(cert, cert) is None


def check_tsa_eku(cert: x509.Certificate) -> None:
    """RFC 3161 2.3: exactly one extended key usage, timeStamping, marked critical."""
    ekus = _ekus(cert)
    if ekus is None or ekus[0] != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise _fail(
            f"timestamp signing certificate with subject {subject_of(cert)!r} must have and "
            "only have Timestamping as extended key usage",
            EKU,
        )
    if not ekus[1]:
        raise _fail(
            f"timestamp signing certificate with subject {subject_of(cert)!r} must have "
            "extended key usage extension marked as critical",
            EKU,
        )


def _validate_leaf(cert: x509.Certificate) -> None:
    name = subject_of(cert)
    if _is_ca(cert):
        raise _fail(
            f"TSA certificate {name!r}: if the basic constraints extension is present, the ca "
            "field must be set to false",
            TSA_CERTIFICATE,
        )
    usage = _key_usage(cert)
    if usage is None:
        raise _fail(
            f"TSA certificate {name!r}: key usage extension must be present", TSA_CERTIFICATE
        )
    if not usage.digital_signature:
        raise _fail(
            f"TSA certificate {name!r}: the key usage must have the bit positions for "
            '"Digital Signature" set',
            TSA_CERTIFICATE,
        )
    bad = [label for attr, label in _FORBIDDEN_LEAF_USAGES if getattr(usage, attr)]
    if usage.key_agreement:
        bad += [
            label
            for attr, label in (
                ("encipher_only", "EncipherOnly"),
                ("decipher_only", "DecipherOnly"),
            )
            if getattr(usage, attr)
        ]
    if bad:
        raise _fail(
            f'TSA certificate {name!r}: the key usage must be "Digital Signature" only, but '
            f"found {', '.join(bad)}",
            TSA_CERTIFICATE,
        )
    check_tsa_eku(cert)
    try:
        key_spec_of_public_key(cert.public_key())
    except UnsupportedKeyError as exc:
        raise _fail(f"TSA certificate {name!r}: {exc}", TSA_CERTIFICATE) from None
    except CRYPTO_ERRORS:
        raise _fail(f"TSA certificate {name!r}: unsupported public key", TSA_CERTIFICATE) from None


def _validate_ca(cert: x509.Certificate, below: int) -> None:
    name = subject_of(cert)
    bc = _basic_constraints(cert)
    if bc is None or not bc.ca:
        raise _fail(
            f"certificate {name!r}: ca field in basic constraints must be present, critical, "
            "and set to true",
            TSA_CERTIFICATE,
        )
    if bc.path_length is not None and bc.path_length < below:
        raise _fail(
            f"certificate {name!r}: expected path length of {below} but certificate has path "
            f"length {bc.path_length} instead",
            TSA_CERTIFICATE,
        )
    usage = _key_usage(cert)
    if usage is None:
        raise _fail(f"certificate {name!r}: key usage extension must be present", TSA_CERTIFICATE)
    if not usage.key_cert_sign:
        raise _fail(
            f"certificate {name!r}: key usage must have the bit positions for key cert sign set",
            TSA_CERTIFICATE,
        )


def validate_tsa_chain(chain: Sequence[x509.Certificate]) -> None:
    """notation-core-go ``ValidateTimestampingCertChain``: leaf first, root last."""
    if not chain:
        raise _fail("the TSA certificate chain is empty", TSA_CERTIFICATE)
    if len(chain) == 1:
        cert = chain[0]
        try:
            cert.verify_directly_issued_by(cert)
            issued = raw_issuer(cert) == raw_subject(cert)
        except CRYPTO_ERRORS:
            issued = False
        if not issued:
            raise _fail(
                f"invalid self-signed certificate {subject_of(cert)!r}: a single TSA "
                "certificate must be self-signed",
                TSA_CERTIFICATE,
            )
        _validate_leaf(cert)
        return
    for i, cert in enumerate(chain):
        if i == len(chain) - 1:
            if not _self_signed(cert):
                raise _fail(
                    f"root certificate with subject {subject_of(cert)!r} is not self-signed. "
                    "Certificate chain must end with a valid self-signed root certificate",
                    TSA_CERTIFICATE,
                )
        else:
            if _self_signed(cert):
                role = "leaf" if i == 0 else "intermediate"
                raise _fail(
                    f"{role} certificate with subject {subject_of(cert)!r} is self-signed. "
                    f"Certificate chain must not contain self-signed {role} certificate",
                    TSA_CERTIFICATE,
                )
            parent = chain[i + 1]
            if raw_issuer(cert) != raw_subject(parent) or _signature_error(cert, parent):
                raise _fail(
                    f"certificate with subject {subject_of(cert)!r} is not issued by "
                    f"{subject_of(parent)!r}",
                    TSA_CERTIFICATE,
                )
        if i == 0:
            _validate_leaf(cert)
        else:
            _validate_ca(cert, i - 1)
