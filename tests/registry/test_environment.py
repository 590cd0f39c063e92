"""The registry client honours the environment azure-core (and notation) honour, and no more.

* a registry behind TLS with a private CA that only ``SSL_CERT_FILE`` (or
  ``REQUESTS_CA_BUNDLE``) names: trusted through the variable, refused without it;
* ``HTTPS_PROXY``/``HTTP_PROXY``: the registry traffic goes through a real forward proxy
  on loopback (CONNECT for https), and not when ``NO_PROXY`` names the host;
* ``.netrc``: never read, so no credential appears that the configuration did not give.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from signer.errors import AuthenticationError, RegistryError
from signer.registry import AnonymousAuth, RegistryClient
from tests.plugins.registry import BASIC_USER
from tests.servers.docker_registry import DockerRegistry
from tests.servers.fault_proxy import FaultProxy
from tests.servers.forward_proxy import ForwardProxy
from tests.servers.images import ImagePusher

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "notary-vectors"
_ENVIRONMENT = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
    "all_proxy", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tls_registry(docker_registry: DockerRegistry, repository_name: str) -> Iterator[FaultProxy]:
    """docker-registry behind TLS with a throwaway CA (``.ca_file``) nobody trusts by default."""
    ImagePusher(docker_registry.url).push_image(repository_name, "v1")
    with FaultProxy(docker_registry.url, tls=True) as proxy:
        yield proxy


@pytest.fixture
def forward_proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as proxy:
        yield proxy


def _resolve(host: str, repository: str, *, insecure: bool = False) -> str:
    with RegistryClient(host, auth=AnonymousAuth(), insecure=insecure, retries=0) as client:
        return client.resolve(repository, "v1").descriptor.digest


def test_a_private_ca_is_trusted_only_through_the_environment(
    tls_registry: FaultProxy, repository_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(RegistryError, match="TLS handshake"):
        _resolve(tls_registry.host, repository_name)

    monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.ca_file))
    assert _resolve(tls_registry.host, repository_name).startswith("sha256:")


def test_requests_ca_bundle_wins_over_ssl_cert_file(
    tls_registry: FaultProxy, repository_name: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    other = tmp_path / "unrelated.pem"
    other.write_bytes(Path(__file__).with_name("..").joinpath(
        "fixtures/notary-vectors/certs/rsa-ca/root.pem").read_bytes())  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_registry.ca_file))
    assert _resolve(tls_registry.host, repository_name).startswith("sha256:")


def test_https_proxy_carries_the_registry_traffic(
    tls_registry: FaultProxy, forward_proxy: ForwardProxy, repository_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.ca_file))
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)

    _resolve(tls_registry.host, repository_name)

    assert ("CONNECT", tls_registry.host) in forward_proxy.seen
    assert tls_registry.count("GET", "/manifests/v1") == 1  # TLS end to end, through the tunnel


def test_http_proxy_carries_plain_http_registry_traffic(
    docker_registry: DockerRegistry, forward_proxy: ForwardProxy, repository_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    ImagePusher(docker_registry.url).push_image(repository_name, "v1")
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)

    _resolve(docker_registry.host, repository_name, insecure=True)

    url = f"http://{docker_registry.host}/v2/{repository_name}/manifests/v1"
    assert ("GET", url) in forward_proxy.seen


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.1,example.org", "*"])
def test_no_proxy_naming_the_host_bypasses_the_proxy(
    tls_registry: FaultProxy, forward_proxy: ForwardProxy, repository_name: str,
    monkeypatch: pytest.MonkeyPatch, no_proxy: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.ca_file))
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)

    _resolve(tls_registry.host, repository_name)

    assert forward_proxy.seen == []
    assert tls_registry.count("GET", "/manifests/v1") == 1


def test_netrc_credentials_are_never_used(
    docker_registry_basic: DockerRegistry, repository_name: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    pusher = ImagePusher(docker_registry_basic.url)
    pusher.session.auth = BASIC_USER
    pusher.push_image(repository_name, "v1")
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login {BASIC_USER[0]} password {BASIC_USER[1]}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))

    with pytest.raises(AuthenticationError, match="401"):
        _resolve(docker_registry_basic.host, repository_name, insecure=True)
