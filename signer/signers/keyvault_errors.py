"""Azure SDK exceptions -> this package's permanent/transient errors, at the Key Vault edge.

Throttling, 5xx and network failures arrive here only after the SDK's own retries; the event
is worth delivering again later, so they are transient. Missing permissions and missing
objects stay missing until someone changes the vault: permanent, and the message names the
permission (and the RBAC role that grants it) so the fix is obvious from the ledger.
Messages carry the HTTP status and Key Vault's error code, never response bodies or tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from signer.errors import KeyVaultError, SignerError, TransientKeyVaultError

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Operation:
    what: str  # "sign with key https://.../keys/x/1"
    permission: str  # "keys/sign"
    role: str  # "Key Vault Crypto User"
    vault_url: str


def operation(what: str, permission: str, vault_url: str) -> Operation:
    roles = {
        "keys": "Key Vault Crypto User",
        "certificates": "Key Vault Certificate User",
        # Certificate User also reads a certificate's secret (RBAC vaults)
        "secrets": "Key Vault Certificate User or Key Vault Secrets User",
    }
    return Operation(what, permission, roles[permission.split("/", maxsplit=1)[0]], vault_url)


def _error_code(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return code if isinstance(code, str) else ""


def _from_vault(exc: HttpResponseError, vault_url: str) -> bool:
    """True when the HTTP answer came from the vault, not from the token endpoint."""
    response = getattr(exc, "response", None)
    request = getattr(response, "request", None)
    url = getattr(request, "url", None)
    return isinstance(url, str) and url.lower().startswith(vault_url.lower() + "/")


def http_error(status: int, error_code: str, op: Operation) -> SignerError:
    """The error for an HTTP answer from the vault (``error_code``: the service's, or '')."""
    code = f" ({error_code})" if error_code else ""
    if status in _TRANSIENT_STATUS:
        return TransientKeyVaultError(f"Key Vault unavailable to {op.what}: HTTP {status}{code}")
    if status in (401, 403):
        return KeyVaultError(
            f"Key Vault refused to {op.what}: HTTP {status}{code}; the signer's identity needs "
            f"the {op.permission} permission (RBAC role {op.role}) on the vault"
        )
    if status == 404:
        return KeyVaultError(f"Key Vault could not {op.what}: not found (HTTP 404){code}")
    return KeyVaultError(f"Key Vault rejected the request to {op.what}: HTTP {status}{code}")


def translate(exc: AzureError, op: Operation) -> SignerError:
    """Map an azure-core exception raised while doing ``op`` to a SignerError."""
    status = getattr(exc, "status_code", None)
    if (
        isinstance(exc, HttpResponseError)
        and isinstance(status, int)
        and _from_vault(exc, op.vault_url)
    ):
        return http_error(status, _error_code(exc), op)
    if isinstance(exc, ClientAuthenticationError):
        # not an answer from the vault: the credential could not get a token (identity
        # endpoint down, not running in Azure, az login expired). Retrying later can help.
        what = f"could not get an access token to {op.what}"
    elif isinstance(exc, ServiceRequestError | ServiceResponseError):
        what = f"network error talking to Key Vault to {op.what}"
    else:
        what = f"Key Vault error while trying to {op.what}"
    return TransientKeyVaultError(f"{what}: {type(exc).__name__}")
