"""A function app wired to real parts: a real registry, Azurite, a dev key.

``SignerApp`` builds the app's handlers from settings exactly as a worker does
(``shared.runtime.build_handlers``) and installs them as the worker's instance,
so the decorated functions in ``function_app`` run the production code path.
Events go through the host's own converter. ``make_app`` serves Debian's
docker-registry (tag schema); ``make_app_on(registry, ...)`` serves any registry
process with ``host`` and ``url`` (olareg for the referrers API).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import azure.functions as func
import pytest
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

import function_app
from scripts.devcert import ensure_dev_certificate
from shared import runtime
from shared.handlers import Handlers
from shared.settings import Settings
from signer.connect import RegistryOptions, open_registry
from signer.credentials import build_credential
from signer.models import Descriptor
from signer.reference import Reference
from signer.registry import RegistryClient
from signer.signatures import verify_reference
from signer.verifier import ArtifactVerification, TrustPolicyDocument, Verifier
from tests.plugins.azurite import StorageNames
from tests.servers.docker_registry import DockerRegistry
from tests.servers.images import ImagePusher

ON_IMAGE_PUSHED = function_app.on_image_pushed.build().get_user_function()
SIGN = function_app.sign.build().get_user_function()
STATUS = function_app.status.build().get_user_function()


@dataclass
class SignerApp:
    settings: Settings
    handlers: Handlers
    pusher: ImagePusher
    dev: dict[str, Path]
    registry_host: str
    events: list[str] = field(default_factory=list)

    # --- delivering what the host would deliver ------------------------------------

    def deliver(self, body: Mapping[str, Any]) -> None:
        """One event body (Event Grid schema or CloudEvents) through the host's converter."""
        event = EventGridEventInConverter.decode(
            meta.Datum(json.dumps(body), "json"), trigger_metadata=None
        )
        ON_IMAGE_PUSHED(event)

    def http_sign(self, body: bytes | Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = func.HttpRequest("POST", "http://localhost:7071/api/sign", body=raw, headers={})
        context = _Context()
        response = SIGN(request, context)
        return response.status_code, json.loads(response.get_body())

    def http_status(self, reference: str) -> tuple[int, dict[str, Any]]:
        request = func.HttpRequest(
            "GET", "http://localhost:7071/api/status", body=b"", params={"reference": reference}
        )
        response = STATUS(request)
        return response.status_code, json.loads(response.get_body())

    # --- looking at the result ---------------------------------------------------------

    def client(self) -> RegistryClient:
        return open_registry(
            RegistryOptions(self.registry_host, insecure=True), lambda: build_credential(None)
        )

    def signatures(
        self, repository: str, digest: str, size: int, media_type: str
    ) -> list[Descriptor]:
        with self.client() as client:
            subject = Descriptor(media_type, digest, size)
            return list(client.list_referrers(repository, subject).signatures)

    def verify(self, repository: str, digest: str) -> ArtifactVerification:
        verifier = Verifier(
            TrustPolicyDocument.load(self.dev["trustpolicy"]), self.dev["truststore"]
        )
        ref = Reference(self.registry_host, repository, digest=digest)
        with self.client() as client:
            return verify_reference(client, ref, verifier)[1]

    def history(self, digest: str) -> list[dict[str, Any]]:
        return self.handlers.ledger.history(digest)


class _Context:
    invocation_id = "test-invocation"
    function_name = "sign"
    function_directory = "."


class RegistryProcess(Protocol):
    """A registry the tests started: ``host`` for settings, ``url`` for the test's pusher."""

    @property
    def host(self) -> str: ...

    @property
    def url(self) -> str: ...


def app_environment(
    registry: RegistryProcess, connection_string: str, names: StorageNames, dev: dict[str, Path]
) -> dict[str, str]:
    return {
        "SIGNER_REGISTRY": registry.host,
        "SIGNER_INSECURE_REGISTRY": "true",
        "SIGNER_REGISTRY_AUTH": "anonymous",
        "SIGNER_LOCAL_KEY": str(dev["key"]),
        "SIGNER_LOCAL_CERT_CHAIN": str(dev["chain"]),
        "SIGNER_LEDGER_TABLE": names.table,
        "AzureWebJobsStorage": connection_string,
    }


@pytest.fixture(scope="session")
def dev_certificate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return ensure_dev_certificate(tmp_path_factory.mktemp("dev"))


@pytest.fixture
def make_app_on(
    azurite_connection_string: str,
    storage_names: StorageNames,
    dev_certificate: dict[str, Path],
) -> Iterator[Callable[..., SignerApp]]:
    """``make_app_on(registry, **settings_overrides)`` -> SignerApp serving ``registry``."""

    def make(registry: RegistryProcess, **overrides: str) -> SignerApp:
        env = app_environment(registry, azurite_connection_string, storage_names, dev_certificate)
        env.update(overrides)
        settings = Settings.from_env(env)
        handlers = runtime.build_handlers(settings)
        runtime._handlers = handlers  # what handlers() returns on a warm worker
        return SignerApp(
            settings, handlers, ImagePusher(registry.url), dev_certificate, registry.host
        )

    yield make
    runtime.reset()


@pytest.fixture
def make_app(
    docker_registry: DockerRegistry, make_app_on: Callable[..., SignerApp]
) -> Callable[..., SignerApp]:
    """``make_app(**settings_overrides)`` -> SignerApp on the session's docker-registry."""

    def make(**overrides: str) -> SignerApp:
        return make_app_on(docker_registry, **overrides)

    return make
