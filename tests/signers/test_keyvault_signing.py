"""KeyVaultSigner against the local Key Vault: signatures, call counts, ids, chain sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.identity import ManagedIdentityCredential
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from signer.errors import CertificateError, ConfigurationError, KeyVaultError
from signer.signers.base import Signer
from signer.signers.keyvault import KeyVaultSigner
from tests.servers.keyvault import KeyVaultServer
from tests.servers.msi import ManagedIdentityServer
from tests.signers import vectors
from tests.signers.helpers import make_signer, verify_notary_signature

DATA = b"the COSE Sig_structure bytes"


@pytest.mark.parametrize(("name", "label"), vectors.KEY_TYPES)
def test_signature_verifies_with_the_leaf_for_every_key_type(
    keyvault_server: KeyVaultServer, name: str, label: str
) -> None:
    keyvault_server.add_certificate(name, vectors.private_key(name), vectors.chain(name))
    signer: Signer = make_signer(
        keyvault_server, keyvault_server.key_id(name), chain_source="secret"
    )

    chain = list(signer.signing_key().chain)
    signature = signer.signing_key().sign(DATA)

    assert signer.signing_key().spec.label == label
    assert chain == list(vectors.chain(name))
    verify_notary_signature(chain[0], signer.signing_key().spec, DATA, signature)


def test_one_vault_call_per_signature_once_warm(
    keyvault_server: KeyVaultServer, msi_server: ManagedIdentityServer
) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("ec-p256"), vectors.chain("ec-p256"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret")
    signer.signing_key().sign(b"warm-up")
    assert kv.count("get_key") == 1  # the CryptographyClient fetched the key once
    kv.reset_counts()

    for i in range(10):
        chain = list(signer.signing_key().chain)
        verify_notary_signature(
            chain[0], signer.signing_key().spec, b"%d" % i, signer.signing_key().sign(b"%d" % i)
        )

    assert dict(kv.counts) == {"sign": 10}
    assert msi_server.calls == 1  # one token, cached by the credential


def test_versionless_id_signs_with_the_latest_version(keyvault_server: KeyVaultServer) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("rsa3072"), vectors.chain("rsa3072"))
    latest = kv.add_certificate("k", vectors.private_key("ec-p384"), vectors.chain("ec-p384"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret")

    signature = signer.signing_key().sign(DATA)

    assert signer.signing_key().key_id == kv.key_id("k", latest)
    assert signer.key_id == kv.key_id("k")
    assert signer.signing_key().spec.label == "EC-384"
    verify_notary_signature(vectors.chain("ec-p384")[0], signer.signing_key().spec, DATA, signature)
    assert ("POST", f"/keys/k/{latest}/sign", 200) in kv.log


@pytest.mark.parametrize("kind", ["keys", "certificates"])
def test_versioned_id_pins_that_version(keyvault_server: KeyVaultServer, kind: str) -> None:
    kv = keyvault_server
    first = kv.add_certificate("k", vectors.private_key("rsa3072"), vectors.chain("rsa3072"))
    kv.add_certificate("k", vectors.private_key("ec-p384"), vectors.chain("ec-p384"))
    signer = make_signer(kv, f"{kv.url}/{kind}/k/{first}", chain_source="secret")

    signature = signer.signing_key().sign(DATA)

    assert signer.signing_key().key_id == kv.key_id("k", first)
    assert signer.signing_key().spec.label == "RSA-3072"
    verify_notary_signature(vectors.chain("rsa3072")[0], signer.signing_key().spec, DATA, signature)
    assert ("GET", f"/certificates/k/{first}", 200) in kv.log


def test_self_signed_chain_from_the_certificates_api_only(
    keyvault_server: KeyVaultServer,
) -> None:
    kv = keyvault_server
    name = "rsa2048-selfsigned"
    kv.add_certificate("self", vectors.private_key(name), vectors.chain(name))
    signer = make_signer(kv, kv.key_id("self"))  # chain source defaults to "certificate"

    chain = list(signer.signing_key().chain)
    verify_notary_signature(
        chain[0], signer.signing_key().spec, DATA, signer.signing_key().sign(DATA)
    )

    assert chain == list(vectors.chain(name))
    assert kv.count("get_secret") == 0


def test_certificate_source_rejects_a_ca_issued_certificate(
    keyvault_server: KeyVaultServer,
) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("ec-p256"), vectors.chain("ec-p256"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="certificate")
    with pytest.raises(CertificateError, match="not self-signed"):
        list(signer.signing_key().chain)


@pytest.mark.parametrize("secret_format", ["pem", "pkcs12"])
@pytest.mark.parametrize("root_first", [False, True])
@pytest.mark.parametrize("with_key", [True, False])
def test_chain_from_the_secret_is_ordered_leaf_first(
    keyvault_server: KeyVaultServer, secret_format: str, root_first: bool, with_key: bool
) -> None:
    kv = keyvault_server
    kv.add_certificate(
        "k",
        vectors.private_key("rsa3072"),
        vectors.chain("rsa3072"),
        secret_format="pkcs12" if secret_format == "pkcs12" else "pem",
        secret_root_first=root_first,
        secret_with_key=with_key,
    )
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret")

    chain = list(signer.signing_key().chain)

    assert chain == list(vectors.chain("rsa3072"))
    assert kv.count("get_secret") == 1


def test_ca_bundle_source(keyvault_server: KeyVaultServer, tmp_path: Path) -> None:
    kv = keyvault_server
    full = vectors.chain("rsa3072")
    kv.add_certificate("k", vectors.private_key("rsa3072"), full)
    bundle = tmp_path / "ca.pem"  # root first: the signer has to order it
    bundle.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in reversed(full[1:]))
    )
    signer = make_signer(kv, kv.key_id("k"), chain_source="ca-bundle", ca_bundle_path=bundle)

    chain = list(signer.signing_key().chain)
    verify_notary_signature(
        chain[0], signer.signing_key().spec, DATA, signer.signing_key().sign(DATA)
    )

    assert chain == list(full)
    assert kv.count("get_secret") == 0


def test_ca_bundle_that_does_not_reach_a_root(
    keyvault_server: KeyVaultServer, tmp_path: Path
) -> None:
    kv = keyvault_server
    full = vectors.chain("rsa3072")
    kv.add_certificate("k", vectors.private_key("rsa3072"), full)
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(full[1].public_bytes(serialization.Encoding.PEM))  # no root
    signer = make_signer(kv, kv.key_id("k"), chain_source="ca-bundle", ca_bundle_path=bundle)
    with pytest.raises(CertificateError, match="self-signed root"):
        list(signer.signing_key().chain)


def test_key_and_certificate_that_do_not_belong_together(
    keyvault_server: KeyVaultServer,
) -> None:
    kv = keyvault_server
    # a vault key that is not the certificate's: same type and size, other key pair
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kv.add_certificate("k", stranger, vectors.chain("rsa2048-chain"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret")
    with pytest.raises(KeyVaultError, match="is not the key of its certificate"):
        signer.signing_key().sign(DATA)
    assert kv.count("sign") == 0


def test_without_keys_get_a_foreign_key_is_caught_by_verification(
    keyvault_server: KeyVaultServer,
) -> None:
    kv = keyvault_server
    kv.denied.add("keys/get")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kv.add_certificate("k", stranger, vectors.chain("rsa2048-chain"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret")
    with pytest.raises(KeyVaultError, match="does not verify with the leaf"):
        signer.signing_key().sign(DATA)


def test_signing_works_without_keys_get(keyvault_server: KeyVaultServer) -> None:
    """Access policies granting only keys/sign (as notation-azure-kv documents) suffice."""
    kv = keyvault_server
    kv.denied.add("keys/get")
    kv.add_certificate("k", vectors.private_key("ec-p256"), vectors.chain("ec-p256"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret")
    for i in range(3):
        chain = list(signer.signing_key().chain)
        verify_notary_signature(
            chain[0], signer.signing_key().spec, b"%d" % i, signer.signing_key().sign(b"%d" % i)
        )
    assert kv.count("sign") == 3
    assert kv.count("get_key") == 1  # the signer's check, once; signing never reads the key


@pytest.mark.parametrize(
    "key_id",
    [
        "",
        "http://vault.example/keys/k",  # not https
        "https://vault.example/secrets/k",
        "https://vault.example/keys",
        "https://vault.example/keys/k/v/extra",
        "https://vault.example/keys/bad_name",
        "https://vault.example/keys/k?x=1",
        "vault.example/keys/k",
    ],
)
def test_invalid_key_ids_are_configuration_errors(key_id: str) -> None:
    class NoCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> object:
            raise AssertionError("no network expected")

    with pytest.raises(ConfigurationError, match="Key Vault key id"):
        KeyVaultSigner(key_id, credential=NoCredential())  # type: ignore[arg-type]


def test_ca_bundle_source_needs_a_path() -> None:
    with pytest.raises(ConfigurationError, match="CA bundle"):
        KeyVaultSigner(
            "https://v.vault.azure.net/keys/k",
            credential=ManagedIdentityCredential(),
            chain_source="ca-bundle",
        )
    with pytest.raises(ConfigurationError, match="unknown certificate chain source"):
        KeyVaultSigner(
            "https://v.vault.azure.net/keys/k",
            credential=ManagedIdentityCredential(),
            chain_source="file",
        )


# --- the default chain source, as notation-azure-kv: no flag for either seed flow --------


def test_auto_uses_a_self_signed_certificate_alone_without_the_secret(
    keyvault_server: KeyVaultServer,
) -> None:
    kv = keyvault_server
    kv.add_certificate(
        "k", vectors.private_key("rsa2048-selfsigned"), vectors.chain("rsa2048-selfsigned")
    )
    kv.denied.add("secrets/get")  # certificates/get is all a self-signed certificate needs
    signer = make_signer(kv, kv.key_id("k"))  # no chain source given: auto

    chain = list(signer.signing_key().chain)

    assert chain == list(vectors.chain("rsa2048-selfsigned"))
    verify_notary_signature(
        chain[0], signer.signing_key().spec, DATA, signer.signing_key().sign(DATA)
    )
    assert kv.count("get_secret") == 0


@pytest.mark.parametrize("secret_format", ["pem", "pkcs12"])
def test_auto_reads_a_ca_issued_chain_from_the_secret(
    keyvault_server: KeyVaultServer, secret_format: str
) -> None:
    kv = keyvault_server
    kv.add_certificate(
        "k",
        vectors.private_key("rsa3072"),
        vectors.chain("rsa3072"),
        secret_format="pkcs12" if secret_format == "pkcs12" else "pem",
    )
    signer = make_signer(kv, kv.key_id("k"), chain_source="auto")

    assert list(signer.signing_key().chain) == list(vectors.chain("rsa3072"))
    assert kv.count("get_secret") == 1


def test_auto_without_secrets_get_names_the_permission_and_the_alternative(
    keyvault_server: KeyVaultServer,
) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("rsa3072"), vectors.chain("rsa3072"))
    kv.denied.add("secrets/get")
    signer = make_signer(kv, kv.key_id("k"))

    with pytest.raises(KeyVaultError) as raised:
        list(signer.signing_key().chain)

    message = str(raised.value)
    assert "CA-issued" in message and "HTTP 403" in message
    assert "secrets/get" in message and "Key Vault Certificate User" in message
    assert "SIGNER_CERT_CHAIN_SOURCE=ca-bundle" in message and "--ca-certs FILE" in message


def test_auto_with_an_incomplete_chain_in_the_secret_names_the_fix(
    keyvault_server: KeyVaultServer,
) -> None:
    kv = keyvault_server
    leaf_only = vectors.chain("rsa3072")[:1]  # the intermediate and root were never merged
    kv.add_certificate("k", vectors.private_key("rsa3072"), leaf_only)
    signer = make_signer(kv, kv.key_id("k"))

    with pytest.raises(CertificateError, match="no issuer found") as raised:
        list(signer.signing_key().chain)
    assert "SIGNER_CERT_CHAIN_SOURCE=ca-bundle" in str(raised.value)


def test_the_explicit_certificate_source_names_the_other_choices(
    keyvault_server: KeyVaultServer,
) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("rsa3072"), vectors.chain("rsa3072"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="certificate")
    with pytest.raises(CertificateError) as raised:
        list(signer.signing_key().chain)
    assert "--self-signed" in str(raised.value) and "SIGNER_CERT_CHAIN_SOURCE=auto" in str(
        raised.value
    )
