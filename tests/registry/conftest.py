"""Shared pieces for the registry client tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from signer.models import Descriptor
from signer.registry import AnonymousAuth, RegistryAuth, RegistryClient
from tests.servers.docker_registry import DockerRegistry
from tests.servers.images import ImagePusher, PushedImage
from tests.servers.oci_registry import OciRegistry

ANNOTATIONS = {
    "io.cncf.notary.x509chain.thumbprint#S256": '["' + "ab" * 32 + '"]',
    "org.opencontainers.image.created": "2026-11-22T04:16:44Z",
}

ClientFactory = Callable[..., RegistryClient]


def subject_of(image: PushedImage) -> Descriptor:
    return Descriptor(image.media_type, image.digest, image.size)


class FakeCredential:
    """A TokenCredential that counts how often it is asked for an Entra token."""

    def __init__(self, token: str = "entra-token") -> None:  # noqa: S107 - a fake
        self.token = token
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """Build clients against local registries (insecure, fast retries) and close them after."""
    made: list[RegistryClient] = []

    def make(host: str, auth: RegistryAuth | None = None, **options: Any) -> RegistryClient:
        options.setdefault("insecure", True)
        options.setdefault("retry_backoff", 0.001)
        client = RegistryClient(host, auth=auth or AnonymousAuth(), **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


class Target:
    """One registry under test: its host and a pusher for fixtures, and a fresh repository."""

    def __init__(self, kind: str, host: str, pusher: ImagePusher, repository: str) -> None:
        self.kind, self.host, self.pusher, self.repository = kind, host, pusher, repository


@pytest.fixture(params=["docker-registry", "oci-referrers"])
def target(request: pytest.FixtureRequest, repository_name: str) -> Target:
    """The same test against Debian's registry (tag schema) and the referrers-API registry."""
    if request.param == "docker-registry":
        registry: DockerRegistry | OciRegistry = request.getfixturevalue("docker_registry")
    else:
        registry = request.getfixturevalue("oci_registry")
    return Target(request.param, registry.host, ImagePusher(registry.url), repository_name)
