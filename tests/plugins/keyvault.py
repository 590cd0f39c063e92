"""pytest fixtures: a local managed-identity endpoint and a local Key Vault over HTTPS.

``msi_server`` points the real azure-identity classes at the local token endpoint by
setting IDENTITY_ENDPOINT/IDENTITY_HEADER (and clearing every other variable that would
change which credential they pick); monkeypatch restores the environment afterwards.
``keyvault_server`` accepts only tokens that ``msi_server`` issued for Key Vault. SDK
clients need ``**keyvault_server.client_options()`` to trust its throwaway CA.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.keyvault import VAULT_RESOURCE, KeyVaultServer
from tests.servers.msi import IDENTITY_VARIABLES, ManagedIdentityServer


@pytest.fixture
def msi_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ManagedIdentityServer]:
    for name in IDENTITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with ManagedIdentityServer() as server:
        monkeypatch.setenv("IDENTITY_ENDPOINT", server.endpoint)
        monkeypatch.setenv("IDENTITY_HEADER", server.identity_header)
        yield server


@pytest.fixture
def keyvault_server(msi_server: ManagedIdentityServer) -> Iterator[KeyVaultServer]:
    with KeyVaultServer(accept_token=msi_server.validator(VAULT_RESOURCE)) as server:
        yield server
