"""Key specs and the Notary signature algorithm each one implies.

signature-specification.md, "Algorithm selection": RSA 2048/3072/4096 -> PS256/384/512,
EC P-256/384/521 -> ES256/384/512. Nothing else is allowed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signer.errors import UnsupportedKeyError

# Hash algorithm objects are stateless; one instance each serves every call.
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


@dataclass(frozen=True)
class Algorithm:
    name: str  # JOSE/Key Vault name: PS256 ...
    cose_id: int
    hash_name: str  # sha256 / sha384 / sha512
    digest_size: int  # bytes; also the RSA-PSS salt length
    is_ec: bool
    ec_coordinate_size: int = 0  # bytes per r and s in the raw r||s form

    def hash_algorithm(self) -> hashes.HashAlgorithm:
        return _HASHES[self.hash_name]

    def digest(self, data: bytes) -> bytes:
        h = hashes.Hash(self.hash_algorithm())
        h.update(data)
        return h.finalize()


PS256 = Algorithm("PS256", -37, "sha256", 32, False)
PS384 = Algorithm("PS384", -38, "sha384", 48, False)
PS512 = Algorithm("PS512", -39, "sha512", 64, False)
ES256 = Algorithm("ES256", -7, "sha256", 32, True, 32)
ES384 = Algorithm("ES384", -35, "sha384", 48, True, 48)
ES512 = Algorithm("ES512", -36, "sha512", 64, True, 66)

ALGORITHMS = (PS256, PS384, PS512, ES256, ES384, ES512)
BY_COSE_ID = {a.cose_id: a for a in ALGORITHMS}
BY_NAME = {a.name: a for a in ALGORITHMS}


class KeySpec(enum.Enum):
    RSA_2048 = ("RSA", 2048, PS256)
    RSA_3072 = ("RSA", 3072, PS384)
    RSA_4096 = ("RSA", 4096, PS512)
    EC_256 = ("EC", 256, ES256)
    EC_384 = ("EC", 384, ES384)
    EC_521 = ("EC", 521, ES512)

    def __init__(self, key_type: str, size: int, algorithm: Algorithm) -> None:
        self.key_type = key_type
        self.size = size
        self.algorithm = algorithm

    @property
    def label(self) -> str:
        return f"{self.key_type}-{self.size}"


_EC_CURVES = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}


def key_spec_of_public_key(key: object) -> KeySpec:
    """The KeySpec for an RSA or EC public key; anything else is an UnsupportedKeyError."""
    if isinstance(key, rsa.RSAPublicKey):
        for spec in (KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096):
            if key.key_size == spec.size:
                return spec
        raise UnsupportedKeyError(
            f"RSA key size {key.key_size} is not supported: use 2048, 3072 or 4096"
        )
    if isinstance(key, ec.EllipticCurvePublicKey):
        size = _EC_CURVES.get(key.curve.name)
        if size is None:
            raise UnsupportedKeyError(
                f"EC curve {key.curve.name} is not supported: use P-256, P-384 or P-521"
            )
        return {256: KeySpec.EC_256, 384: KeySpec.EC_384, 521: KeySpec.EC_521}[size]
    raise UnsupportedKeyError(
        f"key type {type(key).__name__} is not supported: use RSA or EC (P-256/384/521)"
    )


def key_spec_of_certificate(cert: x509.Certificate) -> KeySpec:
    return key_spec_of_public_key(cert.public_key())
