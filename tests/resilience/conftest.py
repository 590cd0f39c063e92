"""Fixtures of the resilience suite: the fault proxy in front of docker-registry, an app
pointed at it, an app on an ACR-auth registry, an app signing with Key Vault behind the
fault proxy, and a log check that runs after every test of the suite.

Every test here runs with the root logger at DEBUG (azure-core, azure-identity, signer.http
and the signer's own loggers all record); at teardown the records are scanned for every
secret the test put in play (``secret_book`` plus what its fixtures hold: managed-identity
tokens, registry passwords, the dev key). A leak fails the test that caused it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from shared import runtime
from shared.settings import Settings
from signer.credentials import build_credential
from signer.signers.keyvault import KeyVaultSigner
from tests.plugins.app import SignerApp, app_environment
from tests.plugins.azurite import StorageNames
from tests.resilience.helpers import TIMEOUT_SECONDS, VAULT_READ_TIMEOUT, MakeApp
from tests.resilience.leaks import SecretBook, find_leaks, record_text
from tests.servers.docker_registry import DockerRegistry
from tests.servers.fault_proxy import FaultProxy
from tests.servers.images import ImagePusher
from tests.servers.keyvault import KeyVaultServer
from tests.servers.msi import ManagedIdentityServer
from tests.servers.oci_registry import OciRegistry


@pytest.fixture
def secret_book() -> SecretBook:
    return SecretBook()


@pytest.fixture(autouse=True)
def no_secrets_in_logs(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, secret_book: SecretBook
) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    for value in request.node.funcargs.values():
        secret_book.add_from(value)
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]
    records += caplog.records
    leaks = find_leaks((record_text(r) for r in records), secret_book.values)
    assert not leaks, "secrets in log records:\n" + "\n".join(leaks[:20])


@pytest.fixture
def registry_proxy(docker_registry: DockerRegistry) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session's docker-registry."""
    with FaultProxy(docker_registry.url) as proxy:
        yield proxy


@pytest.fixture
def proxied_app(make_app: MakeApp, registry_proxy: FaultProxy) -> MakeApp:
    """``proxied_app(**settings)``: an app whose SIGNER_REGISTRY is the fault proxy."""

    def make(**overrides: str) -> SignerApp:
        settings = {
            "SIGNER_REGISTRY": registry_proxy.host,
            "SIGNER_HTTP_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        }
        settings.update(overrides)
        return make_app(**settings)

    return make


@pytest.fixture
def acr_registry(secret_book: SecretBook) -> Iterator[OciRegistry]:
    with OciRegistry(auth="acr", referrers_api=False, monolithic_upload=False) as registry:
        secret_book.watch_oci(registry)
        yield registry


@pytest.fixture
def acr_app(
    acr_registry: OciRegistry,
    msi_server: ManagedIdentityServer,
    azurite_connection_string: str,
    storage_names: StorageNames,
    dev_certificate: dict[str, Path],
) -> Iterator[SignerApp]:
    """The app against the ACR-mode registry, with the worker's own credential."""
    settings = Settings.from_env(
        {
            "SIGNER_REGISTRY": acr_registry.host,
            "SIGNER_INSECURE_REGISTRY": "true",
            "SIGNER_REGISTRY_AUTH": "entra",
            "SIGNER_HTTP_TIMEOUT_SECONDS": "2",
            "SIGNER_LOCAL_KEY": str(dev_certificate["key"]),
            "SIGNER_LOCAL_CERT_CHAIN": str(dev_certificate["chain"]),
            "SIGNER_LEDGER_TABLE": storage_names.table,
            "AzureWebJobsStorage": azurite_connection_string,
        }
    )
    credential = build_credential(None)  # ManagedIdentityCredential: IDENTITY_ENDPOINT is set
    handlers = runtime.build_handlers(settings, credential=lambda: credential)
    runtime._handlers = handlers
    yield SignerApp(
        settings, handlers, ImagePusher(acr_registry.url), dev_certificate, acr_registry.host
    )
    runtime.reset()


@pytest.fixture
def vault_proxy(
    keyvault_server: KeyVaultServer, dev_certificate: dict[str, Path]
) -> Iterator[FaultProxy]:
    key = load_pem_private_key(dev_certificate["key"].read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    chain = x509.load_pem_x509_certificates(dev_certificate["chain"].read_bytes())
    keyvault_server.add_certificate("signer", key, chain)
    with FaultProxy(
        keyvault_server.url, upstream_ca=keyvault_server.ca_file, rewrite_urls=True
    ) as proxy:
        yield proxy


@pytest.fixture
def vault_app(
    *,
    vault_proxy: FaultProxy,
    msi_server: ManagedIdentityServer,
    docker_registry: DockerRegistry,
    azurite_connection_string: str,
    storage_names: StorageNames,
    dev_certificate: dict[str, Path],
) -> Iterator[SignerApp]:
    env = app_environment(
        docker_registry, azurite_connection_string, storage_names, dev_certificate
    )
    parts = runtime.build_components(Settings.from_env(env))  # registry, ledger, leases
    del env["SIGNER_LOCAL_KEY"], env["SIGNER_LOCAL_CERT_CHAIN"]
    key_id = f"{vault_proxy.url}/keys/signer"
    settings = Settings.from_env({**env, "SIGNER_KEY_ID": key_id})
    assert vault_proxy.ca_file is not None
    signer = KeyVaultSigner(
        key_id,
        credential=build_credential(settings.managed_identity_client_id),
        connection_verify=str(vault_proxy.ca_file),
        verify_challenge_resource=False,
        retry_total=2,
        retry_backoff_factor=0.01,
        sign_retry_delay=0.0,
        read_timeout=VAULT_READ_TIMEOUT,
    )
    components = dataclasses.replace(parts, settings=settings, signer=signer)
    handlers = runtime.build_handlers(settings, components)
    runtime._handlers = handlers
    yield SignerApp(
        settings,
        handlers,
        ImagePusher(docker_registry.url),
        dev_certificate,
        docker_registry.host,
    )
    runtime.reset()
    signer.close()
