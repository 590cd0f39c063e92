"""Storage clients for the ledger table and the lease blobs, and how their errors map.

Built from ``StorageSettings`` (``AzureWebJobsStorage``): a connection string (Azurite's
``UseDevelopmentStorage=true`` locally), or identity-based service URIs with the app's
managed identity. Build each client once per worker and reuse it (connection pooling).

The SDKs' default storage retry (15 s, 18 s, 24 s back-off) outlasts Event Grid's 30 s
delivery timeout, so the clients get a short retry: a storage outage then surfaces as a
``TransientError`` and Event Grid redelivers, instead of the invocation hanging.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from urllib3.util.retry import Retry

from shared.settings import StorageSettings
from signer.errors import TransientError

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient

# The storage SDKs (about 65 ms of imports) load when a client is built, on the first
# invocation, not when the host imports function_app to index its functions.

CONNECTION_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
# connections kept per host: requests' default of 10 is below the Functions worker's
# thread count under load, and connections beyond it were closed instead of reused
POOL_SIZE = 32


class StorageUnavailableError(TransientError):
    """Blob or Table storage failed; the event is retried rather than signed without a lock
    or ledger row. Also raised for 403/400: a misconfiguration keeps the event redelivered
    (and finally dead-lettered) instead of acknowledging it unsigned."""

    code = "storage_unavailable"


def storage_error(action: str, exc: Exception) -> StorageUnavailableError:
    """A ``TransientError`` built from status and error code only.

    The SDK's own message can quote request URLs (a SAS token is a query string), so it is
    never copied into ours.
    """
    return StorageUnavailableError(f"{action}: storage unavailable ({describe(exc)})")


def describe(exc: Exception) -> str:
    """``HTTP 409 LeaseAlreadyPresent`` or ``no answer (ServiceRequestError)``: no URLs."""
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        code = error_code(exc)
        return f"HTTP {exc.status_code}" + (f" {code}" if code else "")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return f"no answer ({type(exc).__name__})"
    return type(exc).__name__


def error_code(exc: HttpResponseError) -> str:
    """The storage error code (``LeaseAlreadyPresent``, ``TableNotFound``, ...) or ''."""
    code = getattr(exc, "error_code", None)
    if code is None and exc.response is not None:
        code = getattr(exc.response, "headers", {}).get("x-ms-error-code")
    return str(getattr(code, "value", code) or "")


def storage_credential(settings: StorageSettings) -> TokenCredential:
    """The user-assigned identity named by ``AzureWebJobsStorage__clientId``, else the default
    chain (system-assigned identity in Azure, a developer login locally)."""
    if settings.client_id:
        return ManagedIdentityCredential(client_id=settings.client_id)
    return DefaultAzureCredential()


def _options(**extra: Any) -> dict[str, Any]:
    from azure.core.pipeline.transport import RequestsTransport  # noqa: PLC0415

    timeouts = {"connection_timeout": CONNECTION_TIMEOUT, "read_timeout": READ_TIMEOUT}
    session = requests.Session()
    # as azure-core mounts its own: urllib3 retries nothing, the SDK's retry policy decides
    no_retries = Retry(total=False, redirect=False, raise_on_status=False)
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=no_retries
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # a transport built here takes the timeouts itself (the client's kwargs no longer
    # reach a transport it did not build); it owns the session and closes it with the client
    transport = RequestsTransport(session=session, session_owner=True, **timeouts)
    return {**timeouts, "transport": transport, **extra}


def blob_service_client(
    settings: StorageSettings, credential: TokenCredential | None = None
) -> BlobServiceClient:
    from azure.storage.blob import BlobServiceClient, ExponentialRetry  # noqa: PLC0415

    retry = ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3)
    options = _options(retry_policy=retry)
    if settings.connection_string:
        return BlobServiceClient.from_connection_string(settings.connection_string, **options)
    if not settings.blob_service_uri:
        raise ValueError("StorageSettings has neither a connection string nor a blob URI")
    return BlobServiceClient(
        settings.blob_service_uri, credential=credential or storage_credential(settings), **options
    )


def table_service_client(
    settings: StorageSettings, credential: TokenCredential | None = None
) -> TableServiceClient:
    from azure.data.tables import TableServiceClient  # noqa: PLC0415

    options = _options(retry_total=3, retry_backoff_factor=0.5, retry_backoff_max=8)
    if settings.connection_string:
        return TableServiceClient.from_connection_string(settings.connection_string, **options)
    if not settings.table_service_uri:
        raise ValueError("StorageSettings has neither a connection string nor a table URI")
    return TableServiceClient(
        settings.table_service_uri,
        credential=credential or storage_credential(settings),
        **options,
    )
