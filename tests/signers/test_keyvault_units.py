"""Key ids and chain assembly, without a vault."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from signer.errors import CertificateError, ConfigurationError
from signer.signers.keyvault_chain import (
    ChainSource,
    certificates_from_secret,
    load_ca_bundle,
    order_chain,
)
from signer.signers.keyvault_ids import parse_key_vault_id, same_key_id
from tests.signers import vectors


@pytest.mark.parametrize(
    ("text", "name", "version"),
    [
        ("https://v.vault.azure.net/keys/k", "k", None),
        ("https://v.vault.azure.net/keys/k/", "k", None),
        ("https://V.Vault.Azure.Net/keys/my-key/0123abcd", "my-key", "0123abcd"),
        ("https://v.vault.azure.net/certificates/c/0123abcd", "c", "0123abcd"),
        ("https://127.0.0.1:8443/keys/k/1", "k", "1"),
    ],
)
def test_parse_key_ids(text: str, name: str, version: str | None) -> None:
    parsed = parse_key_vault_id(text)
    assert (parsed.name, parsed.version) == (name, version)
    assert parsed.vault_url == text[: text.index("/", len("https://"))].lower()
    assert parsed.key_id.endswith(f"/keys/{name}" + (f"/{version}" if version else ""))


def test_key_ids_compare_like_key_vault() -> None:
    assert same_key_id("https://V.vault.azure.net/keys/K/1", "https://v.vault.azure.net/keys/k/1")
    assert not same_key_id(
        "https://v.vault.azure.net/keys/k/1", "https://v.vault.azure.net/keys/k/2"
    )
    assert not same_key_id(None, "https://v.vault.azure.net/keys/k/1")


def test_chain_source_names() -> None:
    assert ChainSource.parse("CA-Bundle") is ChainSource.CA_BUNDLE
    with pytest.raises(ConfigurationError, match="certificate, secret, ca-bundle"):
        ChainSource.parse("pkcs12")
    with pytest.raises(ConfigurationError):
        parse_key_vault_id("https://v.vault.azure.net/keys/k/v\u00e9")


def test_order_chain_ignores_certificates_off_the_path() -> None:
    leaf, intermediate, root = vectors.chain("rsa3072")
    stray = vectors.chain("ec-p256")  # another leaf and another root
    ordered = order_chain(leaf, [root, *stray, intermediate], "test")
    assert ordered == [leaf, intermediate, root]


def test_order_chain_needs_every_issuer() -> None:
    leaf, _, root = vectors.chain("rsa3072")
    with pytest.raises(CertificateError, match="no issuer found"):
        order_chain(leaf, [root], "test")


def test_pkcs12_secret_gives_certificates_only() -> None:
    leaf, *cas = vectors.chain("ec-p384")
    p12 = pkcs12.serialize_key_and_certificates(
        b"k", vectors.private_key("ec-p384"), leaf, cas, serialization.NoEncryption()
    )
    certs = certificates_from_secret("application/x-pkcs12", base64.b64encode(p12).decode())
    assert certs == [leaf, *cas]


def test_pem_secret_skips_the_private_key() -> None:
    key_pem = vectors.path("ec-p256", "key.pem").read_text()
    chain_pem = vectors.path("ec-p256", "chain.pem").read_text()
    assert certificates_from_secret("application/x-pem-file", key_pem + chain_pem) == list(
        vectors.chain("ec-p256")
    )


@pytest.mark.parametrize(
    ("content_type", "value", "message"),
    [
        ("application/x-pem-file", "", "empty"),
        ("application/x-pkcs12", "not base64 at all!", "not base64"),
        ("application/x-pkcs12", base64.b64encode(b"garbage").decode(), "PKCS#12"),
        ("application/json", "{}", "unsupported content type"),
    ],
)
def test_bad_secrets_name_the_problem_not_the_content(
    content_type: str, value: str, message: str
) -> None:
    with pytest.raises(CertificateError, match=message) as caught:
        certificates_from_secret(content_type, value)
    if value:
        assert value not in str(caught.value)


def test_pem_secret_with_a_key_but_broken_certificate_hides_the_key() -> None:
    key_pem = vectors.path("ec-p256", "key.pem").read_text()
    broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateError) as caught:
        certificates_from_secret("application/x-pem-file", key_pem + broken)
    assert "PRIVATE" not in str(caught.value)
    assert key_pem.splitlines()[1] not in str(caught.value)


def test_ca_bundle_file_errors(tmp_path: Path) -> None:
    base = tmp_path
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_ca_bundle(base / "missing.pem")
    (base / "empty.pem").write_text("nothing here")
    with pytest.raises(ConfigurationError, match=r"no certificate|not a PEM"):
        load_ca_bundle(base / "empty.pem")
