"""build_credential and the real azure-identity classes against the local token endpoint."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from signer.credentials import build_credential
from tests.servers.keyvault import VAULT_RESOURCE, KeyVaultServer
from tests.servers.msi import ManagedIdentityServer
from tests.signers import vectors
from tests.signers.helpers import make_signer, verify_notary_signature

ACR_RESOURCE = "https://containerregistry.azure.net"
CLIENT_ID = "6f1b3c2e-0d7a-4a8e-9c61-2b7f9d1e4a55"


def test_system_assigned_identity_in_azure(msi_server: ManagedIdentityServer) -> None:
    credential = build_credential(None)
    assert isinstance(credential, ManagedIdentityCredential)

    token = credential.get_token(f"{VAULT_RESOURCE}/.default")

    assert msi_server.is_valid(token.token, VAULT_RESOURCE)
    assert msi_server.requests[-1].client_id is None
    assert msi_server.requests[-1].api_version == "2019-08-01"


def test_user_assigned_client_id_reaches_the_token_endpoint(
    msi_server: ManagedIdentityServer,
) -> None:
    token = build_credential(CLIENT_ID).get_token(f"{ACR_RESOURCE}/.default")

    assert msi_server.is_valid(token.token, ACR_RESOURCE)  # the ACR scope works too
    assert not msi_server.is_valid(token.token, VAULT_RESOURCE)
    info = msi_server.token_info(token.token)
    assert info is not None and info.client_id == CLIENT_ID


def test_signer_with_a_user_assigned_identity(
    keyvault_server: KeyVaultServer, msi_server: ManagedIdentityServer
) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("ec-p256"), vectors.chain("ec-p256"))
    signer = make_signer(
        kv, kv.key_id("k"), credential=build_credential(CLIENT_ID), chain_source="secret"
    )
    chain = list(signer.signing_key().chain)
    verify_notary_signature(
        chain[0], signer.signing_key().spec, b"x", signer.signing_key().sign(b"x")
    )

    assert msi_server.requests
    assert {r.client_id for r in msi_server.requests} == {CLIENT_ID}
    assert {r.resource for r in msi_server.requests} == {VAULT_RESOURCE}


def test_wrong_identity_header_is_refused(
    msi_server: ManagedIdentityServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token(f"{VAULT_RESOURCE}/.default")
    assert msi_server.requests[-1].header_ok is False


def test_default_chain_outside_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)
    monkeypatch.delenv("MSI_ENDPOINT", raising=False)
    assert isinstance(build_credential(None), DefaultAzureCredential)
    assert isinstance(build_credential(CLIENT_ID), DefaultAzureCredential)


def test_legacy_msi_endpoint_counts_as_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)
    monkeypatch.setenv("MSI_ENDPOINT", "http://127.0.0.1:9/msi/token")
    assert isinstance(build_credential(None), ManagedIdentityCredential)
