"""Signatures an attacker with push rights can make: valid signatures over hostile content.

``cryptography`` refuses to build most broken certificates (invalid UTF-8 in a name, an
unknown version, an unknown key algorithm, SHA-1), so these helpers edit a certificate's
DER in place (same-length replacements keep every length valid) and sign the edited
TBSCertificate again with the key given. ``cose``/``jws`` then wrap any payload and any
DER chain in an envelope whose signature is valid for the leaf key.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signer.envelope import sig_structure
from signer.mediatypes import NOTARY_PAYLOAD_CTY
from signer.signers.local import ecdsa_der_to_raw
from tests.verifier import pki

# DER of the algorithm identifiers the surgery swaps (all the same length as their peers).
OID_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")
OID_SHA1_RSA = bytes.fromhex("06092a864886f70d010105")
OID_RSA_KEY = bytes.fromhex("06092a864886f70d010101")
OID_UNKNOWN_KEY = bytes.fromhex("06092a864886f70d01017f")  # 1.2.840.113549.1.1.127
VERSION_3 = bytes.fromhex("a003020102")

RsaOrEc = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def signing_key(kind: str = "rsa2048") -> RsaOrEc:
    """``pki.key`` narrowed to the key types a Notary signature can use."""
    key = pki.key(kind)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _read(data: bytes, pos: int) -> tuple[int, int]:
    """(content start, end) of the TLV at ``pos``."""
    first = data[pos + 1]
    if first < 0x80:
        return pos + 2, pos + 2 + first
    count = first & 0x7F
    length = int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
    return pos + 2 + count, pos + 2 + count + length


def split_certificate(cert_der: bytes) -> tuple[bytes, bytes]:
    """(TBSCertificate DER, signatureAlgorithm DER) of a certificate."""
    start, _ = _read(cert_der, 0)
    _, tbs_end = _read(cert_der, start)
    _, alg_end = _read(cert_der, tbs_end)
    return cert_der[start:tbs_end], cert_der[tbs_end:alg_end]


def resign(
    cert: x509.Certificate,
    key: RsaOrEc,
    replacements: Sequence[tuple[bytes, bytes]] = (),
    *,
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> bytes:
    """The certificate with ``old -> new`` byte replacements, signed again by ``key``."""
    tbs, alg = split_certificate(der(cert))
    for old, new in replacements:
        assert len(old) == len(new), "same-length replacements only"
        assert old in tbs, f"{old.hex()} is not in the certificate"
        tbs = tbs.replace(old, new)
        alg = alg.replace(old, new)
    return _assemble(tbs, alg, key, hash_algorithm or hashes.SHA256())


def resign_tbs(tbs: bytes, original: bytes, key: RsaOrEc) -> bytes:
    """Any TBSCertificate bytes (even malformed) as a certificate signed by ``key``."""
    _, alg = split_certificate(original)
    return _assemble(tbs, alg, key, hashes.SHA256())


def _assemble(tbs: bytes, alg: bytes, key: RsaOrEc, digest: hashes.HashAlgorithm) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), digest)
    else:
        signature = key.sign(tbs, ec.ECDSA(digest))
    return _tlv(0x30, tbs + alg + _tlv(0x03, b"\x00" + signature))


def _sign(key: RsaOrEc, data: bytes) -> bytes:
    """The signature Notary makes with this key (RSA-PSS, or ECDSA as raw r||s)."""
    if isinstance(key, rsa.RSAPrivateKey):
        bits: dict[int, hashes.HashAlgorithm] = {2048: hashes.SHA256(), 3072: hashes.SHA384()}
        digest = bits.get(key.key_size, hashes.SHA512())
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return key.sign(data, pss, digest)
    curves: dict[int, tuple[hashes.HashAlgorithm, int]] = {
        256: (hashes.SHA256(), 32),
        384: (hashes.SHA384(), 48),
        521: (hashes.SHA512(), 66),
    }
    digest, size = curves[key.curve.key_size]
    return ecdsa_der_to_raw(key.sign(data, ec.ECDSA(digest)), size)


def _cose_alg(key: RsaOrEc) -> int:
    if isinstance(key, rsa.RSAPrivateKey):
        return {2048: -37, 3072: -38}.get(key.key_size, -39)
    return {256: -7, 384: -35}.get(key.curve.key_size, -36)


SIGNING_TIME = datetime(2026, 11, 22, 4, 0, 0, tzinfo=UTC)


def cose(
    payload: bytes,
    chain: Sequence[bytes],
    key: RsaOrEc,
    *,
    protected: dict[Any, Any] | None = None,
) -> bytes:
    """A COSE_Sign1_Tagged Notary envelope over ``payload`` with a valid signature by ``key``."""
    header: dict[Any, Any] = {
        1: _cose_alg(key),
        2: ["io.cncf.notary.signingScheme"],
        3: NOTARY_PAYLOAD_CTY,
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": cbor2.CBORTag(1, int(SIGNING_TIME.timestamp())),
    }
    header.update(protected or {})
    protected_bytes = cbor2.dumps(header, canonical=True)
    signature = _sign(key, sig_structure(protected_bytes, payload))
    body = [protected_bytes, {33: list(chain)}, payload, signature]
    return cbor2.dumps(cbor2.CBORTag(18, body))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws_header(key: RsaOrEc) -> dict[str, Any]:
    """The protected header notation writes for ``key``."""
    names = {-37: "PS256", -38: "PS384", -39: "PS512", -7: "ES256", -35: "ES384", -36: "ES512"}
    return {
        "alg": names[_cose_alg(key)],
        "crit": ["io.cncf.notary.signingScheme"],
        "cty": NOTARY_PAYLOAD_CTY,
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": SIGNING_TIME.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def jws(
    payload: bytes,
    chain: Sequence[bytes],
    key: RsaOrEc,
    *,
    protected: dict[str, Any] | None = None,
    protected_bytes: bytes | None = None,
) -> bytes:
    """A JWS (JSON serialization) Notary envelope with a valid signature by ``key``."""
    header = {**jws_header(key), **(protected or {})}
    if protected_bytes is None:
        protected_bytes = json.dumps(header).encode()
    encoded = b64url(protected_bytes)
    body = b64url(payload)
    signature = _sign(key, f"{encoded}.{body}".encode())
    return json.dumps(
        {
            "payload": body,
            "protected": encoded,
            "header": {"x5c": [base64.b64encode(c).decode() for c in chain]},
            "signature": b64url(signature),
        }
    ).encode()
