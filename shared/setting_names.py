"""Every app setting the function app reads, in one place.

The Bicep template and ``local.settings.sample.json`` are tested against this list,
so a renamed or new setting cannot drift out of the deployment.
"""

from __future__ import annotations

# Settings the signer defines (all optional unless marked required in shared/settings.py).
SIGNER_SETTINGS: tuple[str, ...] = (
    "SIGNER_REGISTRY",
    "SIGNER_INSECURE_REGISTRY",
    "SIGNER_REGISTRY_AUTH",
    "SIGNER_REGISTRY_USERNAME",
    "SIGNER_REGISTRY_PASSWORD",
    "SIGNER_INCLUDE_REPOSITORIES",
    "SIGNER_EXCLUDE_REPOSITORIES",
    "SIGNER_INCLUDE_TAGS",
    "SIGNER_EXCLUDE_TAGS",
    "SIGNER_SIGN_UNTAGGED",
    "SIGNER_SIGN_INDEX_CHILDREN",
    "SIGNER_KEY_ID",
    "SIGNER_CERT_CHAIN_SOURCE",
    "SIGNER_CA_BUNDLE",
    "SIGNER_CHAIN_REFRESH_SECONDS",
    "SIGNER_TIMESTAMP_URL",
    "SIGNER_TIMESTAMP_ROOT_CERT",
    "SIGNER_LOCAL_KEY",
    "SIGNER_LOCAL_CERT_CHAIN",
    "SIGNER_MANAGED_IDENTITY_CLIENT_ID",
    "SIGNER_EXPIRY",
    "SIGNER_USER_METADATA",
    "SIGNER_LEDGER_TABLE",
    "SIGNER_OUTCOME_TOPIC_ENDPOINT",
    "SIGNER_REFERRERS_TAG_CLEANUP",
    "SIGNER_HTTP_TIMEOUT_SECONDS",
)

# Settings that belong to the Functions platform but the app reads for its storage.
PLATFORM_SETTINGS: tuple[str, ...] = (
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
)
