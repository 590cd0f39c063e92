"""Local checks on what Key Vault hands back: the key's public half and each signature.

Neither needs a round trip: the public key comes with the one GET key the
CryptographyClient needs anyway, and a signature is verified with the leaf certificate.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from signer.algorithms import Algorithm

_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _int(value: Any) -> int | None:
    return int.from_bytes(bytes(value), "big") if value else None


def _text(value: Any) -> str:
    # the SDK hands enum members (JsonWebKeyType.RSA); str() of those is not the value
    return str(getattr(value, "value", value) or "")


def jwk_public_key(jwk: Any) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None:
    """The public key in a Key Vault JsonWebKey, or None if it is not RSA/EC P-256/384/521."""
    kty = _text(getattr(jwk, "kty", None))
    if kty.startswith("RSA"):
        n, e = _int(getattr(jwk, "n", None)), _int(getattr(jwk, "e", None))
        return rsa.RSAPublicNumbers(e, n).public_key() if n and e else None
    if kty.startswith("EC"):
        curve = _CURVES.get(_text(getattr(jwk, "crv", None)))
        x, y = _int(getattr(jwk, "x", None)), _int(getattr(jwk, "y", None))
        if curve is None or x is None or y is None:
            return None
        return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
    return None


def same_public_key(
    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, cert: x509.Certificate
) -> bool:
    return key.public_bytes(*_SPKI) == cert.public_key().public_bytes(*_SPKI)


def verifies(leaf: x509.Certificate, alg: Algorithm, digest: bytes, signature: bytes) -> bool:
    """Check a raw Notary signature (PSS salt = hash length, or r||s) against the leaf."""
    key = leaf.public_key()
    prehashed = utils.Prehashed(alg.hash_algorithm())
    try:
        if isinstance(key, rsa.RSAPublicKey) and not alg.is_ec:
            pss = padding.PSS(mgf=padding.MGF1(alg.hash_algorithm()), salt_length=alg.digest_size)
            key.verify(signature, digest, pss, prehashed)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey) and alg.is_ec:
            size = alg.ec_coordinate_size
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(prehashed))
            return True
    except InvalidSignature:
        return False
    return False
