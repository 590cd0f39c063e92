"""The token's own signature: tspclient-go ``SignedToken.Verify`` and the CMS checks
under it (internal/cms/signed.go).

For each SignerInfo in turn, the first that passes wins: its signing certificate is the
one the ESS signingCertificateV2 attribute names (by IssuerSerial, else by the SignerInfo
sid) and hashes; the SignerInfo is version 1; that certificate chains to a root at
``at``; the signature over the DER signed attributes verifies (RSA PKCS#1 v1.5, RSA-PSS
with salt = hash length, ECDSA; SHA-256/384/512); the contentType attribute is
id-ct-TSTInfo and the messageDigest attribute is the digest of the TSTInfo; a
signingTime attribute, when present, lies within the chain's validity; and the
certificate has the one, critical, timeStamping extended key usage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signer.certs import subject_of
from signer.timestamp.chain import CRYPTO_ERRORS, build_tsa_chain, check_tsa_eku
from signer.timestamp.errors import (
    SIGNATURE,
    SIGNING_CERTIFICATE,
    UNSUPPORTED,
    UNTRUSTED,
    TimestampInvalidError,
)
from signer.timestamp.request import HASH_BY_OID
from signer.timestamp.token import OID_TST_INFO, SignedToken, SignerInfo

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_RSA = "1.2.840.113549.1.1.1"
_RSA_PSS = "1.2.840.113549.1.1.10"
# Combined OIDs name their own hash; tspclient-go oid.ToSignatureAlgorithm ignores the
# SignerInfo digestAlgorithm for them (it still hashes the content with it).
_COMBINED = {
    "1.2.840.113549.1.1.11": ("pkcs1", "sha256"),
    "1.2.840.113549.1.1.12": ("pkcs1", "sha384"),
    "1.2.840.113549.1.1.13": ("pkcs1", "sha512"),
    "1.2.840.10045.4.3.2": ("ecdsa", "sha256"),
    "1.2.840.10045.4.3.3": ("ecdsa", "sha384"),
    "1.2.840.10045.4.3.4": ("ecdsa", "sha512"),
}


def _fail(message: str, reason: str) -> TimestampInvalidError:
    return TimestampInvalidError(message, reason=reason)


def signing_certificate(token: SignedToken, info: SignerInfo) -> x509.Certificate:
    """tspclient-go ``SignedToken.SigningCertificate`` (RFC 3161 2.4.1, RFC 5816)."""
    if info.ess_v2 is None:
        raise _fail(
            "the timestamp token has no signingCertificateV2 signed attribute",
            SIGNING_CERTIFICATE,
        )
    if not info.ess_v2:
        raise _fail("signingCertificateV2 does not contain any certificate", SIGNING_CERTIFICATE)
    cert_id = info.ess_v2[0]
    if cert_id.has_issuer_serial:
        if cert_id.issuer_der is None:
            raise _fail("issuer name is missing in IssuerSerial", SIGNING_CERTIFICATE)
        issuer, serial = cert_id.issuer_der, cert_id.serial
    else:
        issuer, serial = info.sid_issuer_der, info.sid_serial
    candidate = next(
        (c for c in token.certificates if c.issuer_der == issuer and c.serial == serial), None
    )
    if candidate is None:
        raise _fail("signing certificate not found in the timestamp token", SIGNING_CERTIFICATE)
    hash_name = HASH_BY_OID.get(cert_id.hash_oid)
    if hash_name is None:
        raise _fail(
            "unsupported certificate hash algorithm in SigningCertificateV2 attribute",
            SIGNING_CERTIFICATE,
        )
    if hashlib.new(hash_name, candidate.der).digest() != cert_id.cert_hash:
        raise _fail(
            "signing certificate hash does not match CertHash in signed attribute",
            SIGNING_CERTIFICATE,
        )
    return candidate.cert


def _check_signature(token: SignedToken, info: SignerInfo, cert: x509.Certificate) -> None:
    digest_name = HASH_BY_OID.get(info.digest_oid)
    if info.signature_oid in _COMBINED:
        kind, hash_name = _COMBINED[info.signature_oid]
    elif info.signature_oid in (_RSA, _RSA_PSS) and digest_name is not None:
        kind, hash_name = ("pkcs1" if info.signature_oid == _RSA else "pss"), digest_name
    else:
        raise _fail(
            f"unknown signature algorithm {info.signature_oid} with digest {info.digest_oid}",
            UNSUPPORTED,
        )
    signed = info.signed_attrs_der if info.signed_attrs_der is not None else token.content
    algorithm = _HASHES[hash_name]()
    try:
        key = cert.public_key()
        if kind == "ecdsa":
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise InvalidSignature
            key.verify(info.signature, signed, ec.ECDSA(algorithm))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                raise InvalidSignature
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if kind == "pkcs1"
                else padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
            )
            key.verify(info.signature, signed, pad, algorithm)
    except CRYPTO_ERRORS:
        raise _fail(
            f"the timestamp token's signature by {subject_of(cert)!r} does not verify", SIGNATURE
        ) from None


def _check_signed_attributes(
    token: SignedToken, info: SignerInfo, chain: Sequence[x509.Certificate]
) -> None:
    if info.signed_attrs_der is None:
        raise _fail("the timestamp token has no signed attributes", SIGNATURE)
    if info.content_type is None:
        raise _fail("the timestamp token's signed attributes have no content type", SIGNATURE)
    if info.content_type != OID_TST_INFO:
        raise _fail(
            f"mismatch content type: found {info.content_type} in signer info, and "
            f"{OID_TST_INFO} in signed data",
            SIGNATURE,
        )
    if info.message_digest is None:
        raise _fail("the timestamp token's signed attributes have no message digest", SIGNATURE)
    digest_name = HASH_BY_OID.get(info.digest_oid)
    if digest_name is None:
        raise _fail(f"unsupported digest algorithm {info.digest_oid}", UNSUPPORTED)
    if hashlib.new(digest_name, token.content).digest() != info.message_digest:
        raise _fail(
            "mismatch message digest: the signed attributes are for another TSTInfo", SIGNATURE
        )
    if info.signing_time is not None:
        for cert in chain:
            if not cert.not_valid_before_utc <= info.signing_time <= cert.not_valid_after_utc:
                raise _fail(
                    f"signing time {info.signing_time:%Y-%m-%dT%H:%M:%SZ} is outside the "
                    f"validity period of {subject_of(cert)!r}",
                    SIGNATURE,
                )


def verify_token(
    token: SignedToken, roots: Sequence[x509.Certificate], at: datetime
) -> tuple[x509.Certificate, ...]:
    """The verified TSA chain (TSA certificate first), or the last SignerInfo's error."""
    if not token.signer_infos:
        raise _fail("signerInfo not found in the timestamp token", SIGNATURE)
    if not roots:
        raise _fail("no trusted TSA root certificate was given", UNTRUSTED)
    intermediates = [c.cert for c in token.certificates]
    last: TimestampInvalidError | None = None
    for info in token.signer_infos:
        try:
            cert = signing_certificate(token, info)
            if info.version != 1:
                raise _fail(
                    f"invalid signer info version: only version 1 is supported; got {info.version}",
                    UNSUPPORTED,
                )
            chain = build_tsa_chain(cert, intermediates, roots, at)
            _check_signature(token, info, cert)
            _check_signed_attributes(token, info, chain)
            check_tsa_eku(cert)
            return chain
        except TimestampInvalidError as exc:
            last = exc
    assert last is not None
    raise last
