"""Helpers shared by the signer tests: an independent signature check, a signer factory."""

from __future__ import annotations

from typing import Any

from azure.identity import ManagedIdentityCredential
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from signer.algorithms import KeySpec
from signer.signers.keyvault import KeyVaultSigner
from tests.servers.keyvault import KeyVaultServer


def verify_notary_signature(
    leaf: x509.Certificate, spec: KeySpec, data: bytes, signature: bytes
) -> None:
    """Verify as a Notary verifier does: PSS salt = hash length, ECDSA from raw r||s.

    Written independently of the signers (hashes ``data`` itself); raises InvalidSignature.
    """
    alg = spec.algorithm
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        pss = padding.PSS(mgf=padding.MGF1(alg.hash_algorithm()), salt_length=alg.digest_size)
        key.verify(signature, data, pss, alg.hash_algorithm())
        return
    assert isinstance(key, ec.EllipticCurvePublicKey)
    size = alg.ec_coordinate_size
    assert len(signature) == 2 * size, f"r||s must be {2 * size} bytes, got {len(signature)}"
    der = utils.encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )
    key.verify(der, data, ec.ECDSA(alg.hash_algorithm()))


def make_signer(server: KeyVaultServer, key_id: str, **kwargs: Any) -> KeyVaultSigner:
    """A KeyVaultSigner on the real ManagedIdentityCredential, tuned for fast test retries."""
    options: dict[str, Any] = {
        "retry_backoff_factor": 0.01,
        "sign_retry_delay": 0.0,
        **server.client_options(),
    }
    options.update(kwargs)
    credential = options.pop("credential", None) or ManagedIdentityCredential()
    return KeyVaultSigner(key_id, credential=credential, **options)
