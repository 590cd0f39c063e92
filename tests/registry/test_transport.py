"""Transport rules: https by default, bounded retries, errors that say what happened."""

from __future__ import annotations

import time

import pytest

from signer.errors import (
    ConfigurationError,
    NotFoundError,
    RegistryError,
    TransientRegistryError,
)
from signer.registry import AcrAuth, AnonymousAuth, RegistryClient
from tests.registry.conftest import ClientFactory, FakeCredential
from tests.servers import oci_registry as routes
from tests.servers.images import ImagePusher
from tests.servers.oci_registry import OciRegistry


def test_https_unless_explicitly_insecure(oci_registry: OciRegistry) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    secure = RegistryClient(oci_registry.host, auth=AnonymousAuth(), retries=0)
    assert secure.base_url == f"https://{oci_registry.host}"
    with pytest.raises(RegistryError, match="TLS"):
        secure.resolve("app", "v1")
    assert oci_registry.count("GET", routes.MANIFEST) == 0  # nothing was served over plain http
    with pytest.raises(ConfigurationError, match="insecure"):
        RegistryClient(f"http://{oci_registry.host}", auth=AnonymousAuth())

    insecure = RegistryClient(oci_registry.host, auth=AnonymousAuth(), insecure=True)
    assert insecure.base_url == f"http://{oci_registry.host}"
    assert insecure.resolve("app", "v1").descriptor.size > 0


@pytest.mark.parametrize(
    ("status", "retry_after"), [(503, None), (429, "0"), (502, None), (None, None)]
)
def test_transient_failures_are_retried_then_succeed(
    oci_registry: OciRegistry,
    make_client: ClientFactory,
    status: int | None,
    retry_after: str | None,
) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    oci_registry.clear_requests()
    oci_registry.fail_next(status, 2, retry_after=retry_after, route=routes.MANIFEST)

    resolved = make_client(oci_registry.host, retries=3).resolve("app", "v1")

    assert resolved.descriptor.size > 0
    assert oci_registry.count("GET", routes.MANIFEST) == 3


def test_retry_after_is_honoured(oci_registry: OciRegistry, make_client: ClientFactory) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    oci_registry.fail_next(429, 1, retry_after="1", route=routes.MANIFEST)
    started = time.monotonic()
    make_client(oci_registry.host).resolve("app", "v1")
    assert time.monotonic() - started >= 0.9


def test_retry_after_beyond_the_cap_gives_up_at_once(
    oci_registry: OciRegistry, make_client: ClientFactory
) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    oci_registry.clear_requests()
    oci_registry.fail_next(429, 5, retry_after="120", route=routes.MANIFEST)
    with pytest.raises(TransientRegistryError, match="Retry-After 120"):
        make_client(oci_registry.host, max_retry_after=5).resolve("app", "v1")
    assert oci_registry.count("GET", routes.MANIFEST) == 1


@pytest.mark.parametrize("status", [503, 429, None])
def test_exhausted_retries_raise_transient(
    oci_registry: OciRegistry, make_client: ClientFactory, status: int | None
) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    oci_registry.clear_requests()
    oci_registry.fail_next(status, 10, retry_after="0" if status == 429 else None)

    with pytest.raises(TransientRegistryError, match="3 attempts"):
        make_client(oci_registry.host, retries=2).resolve("app", "v1")
    assert oci_registry.count() == 3


def test_client_errors_carry_the_registry_error_code(
    oci_registry: OciRegistry, make_client: ClientFactory
) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    oci_registry.fail_next(400, 1, route=routes.MANIFEST)
    client = make_client(oci_registry.host)
    with pytest.raises(RegistryError, match="HTTP 400: INJECTED: injected failure") as raised:
        client.resolve("app", "v1")
    assert not isinstance(raised.value, NotFoundError)
    assert oci_registry.count("GET", routes.MANIFEST) == 1  # 4xx is not retried


def test_error_messages_never_contain_tokens(make_client: ClientFactory) -> None:
    with OciRegistry(auth="acr") as registry:
        registry.auth = "none"
        ImagePusher(registry.url).push_image("app", "v1")
        registry.auth = "acr"
        client = make_client(registry.host, AcrAuth(FakeCredential("entra-secret")))
        client.resolve("app", "v1")
        registry.fail_next(500, 10)
        with pytest.raises(TransientRegistryError) as raised:
            client.resolve("app", "v1")
        message = str(raised.value)
        assert "Bearer" not in message and "eyJ" not in message and "entra-secret" not in message
