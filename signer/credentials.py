"""The one Azure credential the signer uses for Key Vault (and the registry).

In Azure (App Service / Functions set IDENTITY_ENDPOINT; older hosts MSI_ENDPOINT) only
managed identity is tried, so a misconfiguration fails fast instead of falling through
DefaultAzureCredential's chain. Elsewhere (a laptop) DefaultAzureCredential picks up
``az login`` and friends.
"""

from __future__ import annotations

import os

from azure.core.credentials import TokenCredential
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential


def running_in_azure() -> bool:
    return bool(os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT"))


def build_credential(managed_identity_client_id: str | None = None) -> TokenCredential:
    """Managed identity in Azure (user-assigned with a client id), else the default chain."""
    client_id = managed_identity_client_id or None
    if running_in_azure():
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential(managed_identity_client_id=client_id)
