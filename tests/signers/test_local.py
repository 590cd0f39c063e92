"""LocalSigner: the PEM-on-disk signer used on laptops and in CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from signer.errors import ConfigurationError, UnsupportedKeyError
from signer.signers.base import Signer
from signer.signers.local import LocalSigner
from tests.signers import vectors
from tests.signers.helpers import verify_notary_signature

DATA = b"the COSE Sig_structure bytes"


def _pem(key: object, password: bytes | None = None) -> bytes:
    assert isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@pytest.mark.parametrize(("name", "label"), vectors.KEY_TYPES)
def test_signature_verifies_for_every_key_type(name: str, label: str) -> None:
    signer: Signer = LocalSigner.from_files(
        vectors.path(name, "key.pem"), vectors.path(name, "chain.pem")
    )
    signature = signer.signing_key().sign(DATA)
    chain = list(signer.signing_key().chain)

    assert signer.signing_key().spec.label == label
    assert chain == list(vectors.chain(name))
    assert signer.key_id == f"file:{vectors.path(name, 'key.pem')}"
    verify_notary_signature(chain[0], signer.signing_key().spec, DATA, signature)
    # PSS and ECDSA are randomised: two signatures differ, both verify
    assert signer.signing_key().sign(DATA) != signature


def test_key_that_does_not_match_the_leaf() -> None:
    with pytest.raises(ConfigurationError, match="does not match the leaf"):
        LocalSigner.from_files(
            vectors.path("rsa3072", "key.pem"), vectors.path("rsa4096", "chain.pem")
        )


def test_non_pem_key(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-secret-looking-bytes")
    with pytest.raises(ConfigurationError, match="not an unencrypted PEM private key") as caught:
        LocalSigner.from_files(key, vectors.path("rsa3072", "chain.pem"))
    assert "secret-looking" not in str(caught.value)


def test_non_pem_chain(tmp_path: Path) -> None:
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"not a certificate")
    with pytest.raises(ConfigurationError, match="chain"):
        LocalSigner.from_files(vectors.path("rsa3072", "key.pem"), chain)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        LocalSigner.from_files(tmp_path / "absent.pem", vectors.path("rsa3072", "chain.pem"))


def test_encrypted_key_is_refused_without_leaking_it(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(_pem(vectors.private_key("rsa3072"), password=b"hunter2"))
    with pytest.raises(ConfigurationError, match="unencrypted") as caught:
        LocalSigner.from_files(key, vectors.path("rsa3072", "chain.pem"))
    assert "ENCRYPTED" not in str(caught.value)


def test_ed25519_key_is_unsupported(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(_pem(ed25519.Ed25519PrivateKey.generate()))
    with pytest.raises(UnsupportedKeyError, match="use RSA or EC"):
        LocalSigner.from_files(key, vectors.path("rsa3072", "chain.pem"))


def test_small_rsa_key_is_unsupported(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose
    key.write_bytes(_pem(weak))
    with pytest.raises(UnsupportedKeyError, match="RSA key size 1024"):
        LocalSigner.from_files(key, vectors.path("rsa3072", "chain.pem"))


def test_empty_chain() -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        LocalSigner(vectors.private_key("ec-p256"), [])
