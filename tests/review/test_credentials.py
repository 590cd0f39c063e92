"""Review: where the registry's credentials can be made to go.

Real parts: Debian's docker-registry behind the fault proxy, the recording server as the
other host, a second loopback server that answers with a challenge of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from signer.connect import RegistryOptions, open_registry
from signer.errors import AuthenticationError, ConfigurationError, SignerError
from signer.registry import AcrAuth, BasicAuth
from tests.registry.conftest import ClientFactory, FakeCredential
from tests.servers.docker_registry import DockerRegistry
from tests.servers.fault_proxy import Answer, FaultProxy
from tests.servers.images import ImagePusher
from tests.servers.loopback import BackgroundServer, LoopbackHTTPServer
from tests.servers.oci_registry import EXCHANGE, OciRegistry
from tests.servers.recorder import RecordingServer

USER = ("signer", "hunter2-registry-password")


class Challenger(BackgroundServer):
    """Another origin (a redirect target) that answers 401 with a bearer challenge naming
    a token realm of its own choosing."""

    thread_name = "challenger"

    def __init__(self, realm: str) -> None:
        self.realm = realm

    def make_server(self) -> LoopbackHTTPServer:
        realm = self.realm

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="evil"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_HEAD = do_GET  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                return None

        return LoopbackHTTPServer(Handler, quiet=True)


@pytest.fixture
def token_thief() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def test_a_challenge_from_a_redirect_target_gets_no_registry_password(
    docker_registry: DockerRegistry,
    repository_name: str,
    token_thief: RecordingServer,
    make_client: ClientFactory,
) -> None:
    """The HTTP client follows a GET redirect to another origin (dropping Authorization,
    rightly), but ``Transport.request`` then treats that other origin's 401 as the
    registry's own challenge: its realm is checked only for scheme, remembered as the
    registry's realm, and the basic username:password is sent there to fetch a token.
    Whoever answers a redirect (a storage front end, a CDN) names where the password goes."""
    ImagePusher(docker_registry.url).push_image(repository_name, "v1")
    with (
        Challenger(f"{token_thief.url}/token") as challenger,
        FaultProxy(docker_registry.url) as proxy,
    ):

        def redirect(answer: Answer) -> None:
            answer.status, answer.content = 307, b""
            answer.header("Location", f"http://{challenger.host}/elsewhere")

        proxy.edit(redirect, method="GET", path="/manifests/v1")
        client = make_client(proxy.host, BasicAuth(*USER))
        with pytest.raises(SignerError):
            client.resolve(repository_name, "v1")

    leaked = [a for a in token_thief.arrivals if a.authorization is not None]
    assert leaked == [], f"the registry password reached {token_thief.url}: {leaked}"


def test_one_redirected_challenge_does_not_capture_the_client_for_ever(
    docker_registry: DockerRegistry,
    repository_name: str,
    token_thief: RecordingServer,
    make_client: ClientFactory,
) -> None:
    """The foreign realm is stored as ``_realms[registry]``: from then on every request of
    this (shared, warm) client fetches a token from it first, with the password, and fails.
    One redirected answer turns a worker into a password pump and stops all its signing."""
    ImagePusher(docker_registry.url).push_image(repository_name, "v1")
    with (
        Challenger(f"{token_thief.url}/token") as challenger,
        FaultProxy(docker_registry.url) as proxy,
    ):

        def redirect(answer: Answer) -> None:
            answer.status, answer.content = 307, b""
            answer.header("Location", f"http://{challenger.host}/elsewhere")

        proxy.edit(redirect, method="GET", path="/manifests/v1")
        client = make_client(proxy.host, BasicAuth(*USER))
        with pytest.raises(SignerError):
            client.resolve(repository_name, "v1")
        before = len(token_thief.arrivals)

        resolved = client.resolve(repository_name, "v1")  # no fault any more

    assert resolved.descriptor.digest.startswith("sha256:")
    assert len(token_thief.arrivals) == before


def test_an_entra_token_never_travels_over_plain_http(make_client: ClientFactory) -> None:
    """``SIGNER_INSECURE_REGISTRY`` (or ``--insecure-registry``) with Entra auth (the CLI's
    default for ``*.azurecr.io``) would post the identity's Entra ID token, whose audience
    is every registry the identity can reach, in clear text. Refused before anything is
    sent, at start-up (settings, CLI options) and in the auth flow itself; loopback stand-ins
    stay allowed (nothing leaves the machine)."""
    credential = FakeCredential()
    client = make_client("registry.example.test:5000", AcrAuth(credential), insecure=True)
    with pytest.raises(AuthenticationError, match="plain http"):
        client.resolve("app", "v1")
    assert credential.calls == []  # not even the token was fetched
    with pytest.raises(ConfigurationError, match="clear text"):
        open_registry(
            RegistryOptions("myreg.azurecr.io", auth="entra", insecure=True), lambda: credential
        )
    with OciRegistry(auth="acr") as registry:  # loopback: the test stand-ins keep working
        registry.auth = "none"
        ImagePusher(registry.url).push_image("app", "v1")
        registry.auth = "acr"
        loopback = make_client(registry.host, AcrAuth(FakeCredential()), insecure=True)
        assert loopback.resolve("app", "v1").descriptor.size > 0
        assert registry.count("POST", EXCHANGE) == 1
