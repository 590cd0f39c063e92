"""Trust store layout and loading rules (notation-go verifier/truststore)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from signer.errors import ConfigurationError
from signer.verifier import TrustStore
from signer.verifier.trustpolicy import StoreType
from tests.verifier import pki
from tests.verifier.vectors import case


@pytest.fixture
def root_cert() -> pki.x509.Certificate:
    return pki.certificate(pki.key("p256"), pki.name("Root"), ca=True)


def _store(tmp_path: Path, name: str = "acme") -> Path:
    path = tmp_path / "x509" / "ca" / name
    path.mkdir(parents=True)
    return path


def test_pem_and_der_files_are_read(tmp_path: Path, root_cert: pki.x509.Certificate) -> None:
    other = pki.certificate(pki.key("p384"), pki.name("Other"), ca=True)
    path = _store(tmp_path)
    (path / "a.pem").write_bytes(pki.pem(root_cert))
    (path / "b.cer").write_bytes(other.public_bytes(serialization.Encoding.DER))
    certs = TrustStore(tmp_path).certificates(StoreType.CA, "acme")
    assert certs == (root_cert, other)


def test_a_self_signed_leaf_may_be_a_trust_anchor(tmp_path: Path) -> None:
    leaf = pki.certificate(pki.key("p256"), pki.name("Self-signed leaf"))
    (_store(tmp_path) / "leaf.crt").write_bytes(pki.pem(leaf))
    assert TrustStore(tmp_path).certificates(StoreType.CA, "acme") == (leaf,)


def test_vector_store_layout(tmp_path: Path) -> None:
    store = TrustStore(case("rsa2048-chain-cose").path / "truststore")
    (root,) = store.certificates(StoreType.CA, "rsa-root")
    assert "RSA Root CA" in root.subject.rfc4514_string()


def test_missing_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"trust store ca:absent does not exist"):
        TrustStore(tmp_path).certificates(StoreType.CA, "absent")


def test_empty_store(tmp_path: Path) -> None:
    _store(tmp_path)
    with pytest.raises(ConfigurationError, match="has no certificates"):
        TrustStore(tmp_path).certificates(StoreType.CA, "acme")


def test_garbage_file(tmp_path: Path) -> None:
    (_store(tmp_path) / "notes.txt").write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="could not parse a certificate"):
        TrustStore(tmp_path).certificates(StoreType.CA, "acme")


def test_subdirectory_is_an_error(tmp_path: Path, root_cert: pki.x509.Certificate) -> None:
    path = _store(tmp_path)
    (path / "a.pem").write_bytes(pki.pem(root_cert))
    (path / "sub").mkdir()
    with pytest.raises(ConfigurationError, match="not a regular file"):
        TrustStore(tmp_path).certificates(StoreType.CA, "acme")


def test_symlinks_are_errors(tmp_path: Path, root_cert: pki.x509.Certificate) -> None:
    path = _store(tmp_path)
    real = tmp_path / "real.pem"
    real.write_bytes(pki.pem(root_cert))
    (path / "link.pem").symlink_to(real)
    with pytest.raises(ConfigurationError, match="not a regular file"):
        TrustStore(tmp_path).certificates(StoreType.CA, "acme")
    (tmp_path / "x509" / "ca" / "linked").symlink_to(path)
    with pytest.raises(ConfigurationError, match="symlinks are not supported"):
        TrustStore(tmp_path).certificates(StoreType.CA, "linked")


def test_non_ca_issued_certificate_is_refused(tmp_path: Path) -> None:
    root_key = pki.key("p384")
    root = pki.certificate(root_key, pki.name("Root"), ca=True)
    leaf = pki.certificate(
        pki.key("p256"), pki.name("Leaf"), issuer_key=root_key, issuer=root.subject
    )
    (_store(tmp_path) / "leaf.pem").write_bytes(pki.pem(leaf))
    with pytest.raises(ConfigurationError, match="neither a CA certificate nor a self-signed"):
        TrustStore(tmp_path).certificates(StoreType.CA, "acme")


def test_bad_store_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="must match"):
        TrustStore(tmp_path).certificates(StoreType.CA, "../x")


def _tsa_store(tmp_path: Path, *certs: pki.x509.Certificate) -> TrustStore:
    path = tmp_path / "x509" / "tsa" / "tsa"
    path.mkdir(parents=True)
    (path / "roots.pem").write_bytes(pki.pem(*certs))
    return TrustStore(tmp_path)


def test_a_tsa_store_holds_root_ca_certificates(
    tmp_path: Path, root_cert: pki.x509.Certificate
) -> None:
    assert _tsa_store(tmp_path, root_cert).certificates(StoreType.TSA, "tsa") == (root_cert,)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda: pki.certificate(
                pki.key("p256"),
                pki.name("Intermediate"),
                issuer_key=pki.key("p384"),
                issuer=pki.name("Root"),
                ca=True,
            ),
            "its own key does not verify its signature",
        ),
        (lambda: pki.certificate(pki.key("p256"), pki.name("Leaf")), "cA is false"),
        (
            lambda: pki.certificate(pki.key("p256"), pki.name("No BC"), ca=None),
            "no basicConstraints",
        ),
        (
            lambda: pki.certificate(
                pki.key("p256"), pki.name("No keyCertSign"), ca=True, key_usage={"crl_sign": True}
            ),
            "keyCertSign",
        ),
    ],
    ids=["intermediate", "self-signed-leaf", "no-basic-constraints", "no-key-cert-sign"],
)
def test_a_tsa_store_refuses_what_is_not_a_root_ca(
    tmp_path: Path, make: Callable[[], pki.x509.Certificate], words: str
) -> None:
    """notation-go GetCertificates: a tsa store's certificates must pass isRootCACertificate
    (the ca and signingAuthority stores take a self-signed leaf or an intermediate)."""
    cert = make()
    with pytest.raises(ConfigurationError, match="not a root CA certificate") as caught:
        _tsa_store(tmp_path, cert).certificates(StoreType.TSA, "tsa")
    assert words in str(caught.value)
