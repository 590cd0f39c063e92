"""Per-worker construction: settings, credential, signer, registry, ledger, service.

Built once on first use and reused by every invocation of the worker (the clients pool
connections and cache tokens). Start-up problems surface as a ConfigurationError naming
the bad setting; warnings (a filter that matches nothing, a local key) are logged once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from azure.core.credentials import TokenCredential

from shared.handlers import Handlers
from shared.ledger import Ledger
from shared.outcomes import outcome_publisher
from shared.settings import Settings, StorageSettings
from shared.tables import EntraToken, TableService, parse_connection_string
from signer.connect import (
    RegistryOptions,
    SignerOptions,
    open_registry,
    open_signer,
    open_timestamper,
)
from signer.credentials import build_credential
from signer.errors import ConfigurationError
from signer.registry import RegistryClient
from signer.service import SigningService
from signer.signers.base import Signer

log = logging.getLogger("signer")

# azure-core logs every request and response at INFO (URL, headers, status), and the
# Functions worker forwards INFO to Application Insights: a dozen records per event.
SDK_REQUEST_LOGGER = "azure.core.pipeline.policies.http_logging_policy"

_lock = threading.Lock()
_handlers: Handlers | None = None


@dataclass(frozen=True)
class Components:
    """Everything an app instance holds; tests build it with their own parts."""

    settings: Settings
    registry: RegistryClient
    signer: Signer
    ledger: Ledger


def table_service(
    storage: StorageSettings, credential: Callable[[], TokenCredential]
) -> TableService:
    """The ledger's table endpoint: a connection string (Azurite locally) or the identity."""
    if storage.connection_string:
        endpoint, auth = parse_connection_string(storage.connection_string)
        return TableService(endpoint, auth)
    if not storage.table_service_uri:
        raise ValueError("StorageSettings has neither a connection string nor a table URI")
    return TableService(storage.table_service_uri.rstrip("/"), EntraToken(credential()))


def build_components(
    settings: Settings, credential: Callable[[], TokenCredential] | None = None
) -> Components:
    credential = credential or cache(lambda: build_credential(settings.managed_identity_client_id))
    registry = open_registry(
        RegistryOptions(
            settings.registry,
            auth=settings.registry_auth,
            username=settings.registry_username,
            password=settings.registry_password,
            insecure=settings.insecure_registry,
            timeout=settings.http_timeout,
            referrers_tag_cleanup=settings.referrers_tag_cleanup,
        ),
        credential,
    )
    signer = open_signer(
        SignerOptions(
            local_key=settings.local_key,
            local_chain=settings.local_cert_chain,
            key_id=settings.key_id,
            chain_source=settings.cert_chain_source,
            ca_bundle=settings.ca_bundle,
            refresh_seconds=settings.chain_refresh_seconds,
        ),
        credential,
    )
    storage_credential = _storage_credential(settings, credential)
    tables = table_service(settings.storage, storage_credential)
    return Components(
        settings=settings,
        registry=registry,
        signer=signer,
        ledger=Ledger(tables.table(settings.ledger_table), key_id=signer.key_id),
    )


def _storage_credential(
    settings: Settings, credential: Callable[[], TokenCredential]
) -> Callable[[], TokenCredential]:
    """AzureWebJobsStorage__clientId names the storage identity; else the app's own."""
    client_id = settings.storage.client_id
    if client_id and client_id != settings.managed_identity_client_id:
        return cache(lambda: build_credential(client_id))
    return credential


def build_handlers(
    settings: Settings,
    components: Components | None = None,
    credential: Callable[[], TokenCredential] | None = None,
) -> Handlers:
    credential = credential or cache(lambda: build_credential(settings.managed_identity_client_id))
    parts = components or build_components(settings, credential)
    try:
        timestamper = open_timestamper(settings.timestamp_url, settings.timestamp_root_cert)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"SIGNER_TIMESTAMP_URL / SIGNER_TIMESTAMP_ROOT_CERT: {exc}"
        ) from None
    service = SigningService(
        registry=parts.registry,
        signer=parts.signer,
        sign_index_children=settings.sign_index_children,
        timestamper=timestamper,
    )
    publisher = outcome_publisher(
        settings.outcome_topic_endpoint,
        credential() if settings.outcome_topic_endpoint else None,
    )
    for warning in settings.startup_warnings():
        log.warning("configuration: %s", warning)
    return Handlers(settings=settings, service=service, ledger=parts.ledger, publisher=publisher)


def handlers(environ: Mapping[str, str] | None = None) -> Handlers:
    """The worker's Handlers, built from the environment on first use."""
    global _handlers  # noqa: PLW0603 - one instance per worker process is the point
    if _handlers is None:
        with _lock:
            if _handlers is None:
                quiet_sdk_request_logs()
                _handlers = build_handlers(Settings.from_env(environ or os.environ))
    return _handlers


def quiet_sdk_request_logs() -> None:
    """WARNING for the SDKs' per-request log, unless its level was set on purpose."""
    logger = logging.getLogger(SDK_REQUEST_LOGGER)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def reset() -> None:
    """Forget the worker's instance (tests; settings changes)."""
    global _handlers  # noqa: PLW0603
    with _lock:
        _handlers = None
