"""Registry fixtures: Debian's docker-registry (real, tag schema) and the in-memory OCI registry.

``docker_registry`` and ``docker_registry_basic`` are session-scoped processes;
tests share them, so each test takes a fresh repository name
(``repository_name``). A missing binary FAILS the test rather than skipping it:
CI installs ``docker-registry`` and a silent skip would hide the only real
registry the tag-schema path is proven against.

``oci_registry`` is a fresh in-memory registry per test (it starts in
milliseconds), with the referrers API; ``oci_registry_no_referrers`` emulates
an old registry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.docker_registry import DockerRegistry, RegistryBinaryMissingError
from tests.servers.images import ImagePusher
from tests.servers.oci_registry import OciRegistry

BASIC_USER = ("signer", "s3cret-test-password")


def _start_docker_registry(root: Path, htpasswd: tuple[str, str] | None) -> DockerRegistry:
    try:
        return DockerRegistry(root, htpasswd=htpasswd).start()
    except RegistryBinaryMissingError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerRegistry]:
    registry = _start_docker_registry(tmp_path_factory.mktemp("docker-registry"), None)
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def docker_registry_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerRegistry]:
    """docker-registry with htpasswd basic auth; credentials in ``.credentials``."""
    registry = _start_docker_registry(tmp_path_factory.mktemp("docker-registry-basic"), BASIC_USER)
    yield registry
    registry.stop()


@pytest.fixture
def repository_name() -> str:
    """A repository no other test uses (the session registries are shared)."""
    return f"test/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def oci_registry() -> Iterator[OciRegistry]:
    with OciRegistry() as registry:
        yield registry


@pytest.fixture
def oci_registry_no_referrers() -> Iterator[OciRegistry]:
    with OciRegistry(referrers_api=False, monolithic_upload=False) as registry:
        yield registry


@pytest.fixture
def docker_pusher(docker_registry: DockerRegistry) -> ImagePusher:
    return ImagePusher(docker_registry.url)


@pytest.fixture
def oci_pusher(oci_registry: OciRegistry) -> ImagePusher:
    return ImagePusher(oci_registry.url)
