"""A signer for a PEM private key on disk: local development and tests only.

Production keys live in Key Vault (``signer.signers.keyvault``); this signer exists
so the whole flow runs on a laptop and in CI without one.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from signer.algorithms import KeySpec, key_spec_of_public_key
from signer.errors import ConfigurationError, UnsupportedKeyError


def load_pem_chain(data: bytes, source: str = "certificate chain") -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigurationError(f"{source}: not a PEM certificate chain ({exc})") from None
    if not certs:
        raise ConfigurationError(f"{source}: no certificate found")
    return certs


def ecdsa_der_to_raw(der: bytes, coordinate_size: int) -> bytes:
    """DER ECDSA-Sig-Value -> the fixed-length r||s form COSE and JOSE use."""
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(coordinate_size, "big") + s.to_bytes(coordinate_size, "big")


class LocalSigner:
    def __init__(
        self,
        private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
        chain: list[x509.Certificate],
        key_id: str = "local",
    ) -> None:
        if not chain:
            raise ConfigurationError("the certificate chain is empty")
        spec = key_spec_of_public_key(private_key.public_key())
        leaf_key = chain[0].public_key()
        if leaf_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise ConfigurationError(
                "the private key does not match the leaf certificate (first in the chain)"
            )
        self._key = private_key
        self._chain = tuple(chain)
        self._spec = spec
        self._key_id = key_id

    @classmethod
    def from_files(cls, key_path: str | Path, chain_path: str | Path) -> LocalSigner:
        key_path, chain_path = Path(key_path), Path(chain_path)
        try:
            key_pem = key_path.read_bytes()
            chain_pem = chain_path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read key or chain: {exc.strerror}: {exc.filename}"
            ) from None
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError):
            # the exception text can quote key bytes: keep it out of the message
            raise ConfigurationError(f"{key_path}: not an unencrypted PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise UnsupportedKeyError(
                f"{key_path}: {type(key).__name__} keys are not supported: use RSA or EC"
            )
        return cls(key, load_pem_chain(chain_pem, str(chain_path)), key_id=f"file:{key_path}")

    @property
    def spec(self) -> KeySpec:
        return self._spec

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return self._chain

    def signing_key(self) -> LocalSigner:
        """A local key has one version: itself (immutable after construction)."""
        return self

    def sign(self, data: bytes) -> bytes:
        alg = self._spec.algorithm
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(
                data,
                padding.PSS(mgf=padding.MGF1(alg.hash_algorithm()), salt_length=alg.digest_size),
                alg.hash_algorithm(),
            )
        der = self._key.sign(data, ec.ECDSA(alg.hash_algorithm()))
        return ecdsa_der_to_raw(der, alg.ec_coordinate_size)
