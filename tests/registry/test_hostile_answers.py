"""A registry that lies: every URL it names, every header and body it sends, is hostile.

A real registry (the in-memory one with the referrers API and auth, or Debian's
docker-registry) sits behind the fault proxy, which rewrites its answers. What must
hold: credentials reach only the registry's origin and the token realm it named; every
failure is a ``RegistryError``/``TransientRegistryError`` with a message free of secrets;
nothing takes longer than the per-request deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from signer.errors import AuthenticationError, RegistryError, SignerError, TransientRegistryError
from signer.mediatypes import COSE_MEDIA_TYPE
from signer.models import Descriptor
from signer.registry import BasicAuth, BearerAuth, RegistryClient
from tests.registry.conftest import ANNOTATIONS, ClientFactory
from tests.servers.docker_registry import DockerRegistry
from tests.servers.fault_proxy import Answer, FaultProxy
from tests.servers.images import ImagePusher, push_nested_manifest
from tests.servers.oci_registry import OciRegistry
from tests.servers.recorder import RecordingServer

USER = ("signer", "hunter2-registry-password")


@pytest.fixture
def attacker() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def _registry(auth: str) -> OciRegistry:
    registry = OciRegistry(auth=auth, users=dict([USER]))  # type: ignore[arg-type]
    registry.start()
    registry.auth = "none"
    ImagePusher(registry.url).push_image("app", "v1")
    registry.auth = auth  # type: ignore[assignment]
    return registry


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_a_next_page_on_another_host_gets_no_credentials(
    auth: str, attacker: RecordingServer, make_client: ClientFactory
) -> None:
    registry = _registry(auth)
    with registry, FaultProxy(registry.url) as proxy:
        credentials = BasicAuth(*USER) if auth == "basic" else BearerAuth(*USER)
        client = make_client(proxy.host, credentials)
        subject = client.resolve("app", "v1").descriptor
        link = f'<{attacker.url}/v2/app/referrers/{subject.digest}?n=1>; rel="next"'
        proxy.edit(lambda a: a.header("Link", link), method="GET", path="/referrers/", times=5)

        with pytest.raises(RegistryError, match="another origin"):
            client.list_referrers("app", subject)

    assert attacker.arrivals == []


def test_a_redirect_to_another_host_drops_the_credentials(
    attacker: RecordingServer, make_client: ClientFactory
) -> None:
    registry = _registry("basic")
    with registry, FaultProxy(registry.url) as proxy:
        client = make_client(proxy.host, BasicAuth(*USER))
        digest = client.resolve("app", "v1").descriptor.digest
        target = f"{attacker.url}/elsewhere/{digest}"

        def redirect(answer: Answer) -> None:
            answer.status, answer.content = 307, b""
            answer.header("Location", target)

        proxy.edit(redirect, method="GET", path=f"/manifests/{digest}")
        with pytest.raises(RegistryError, match="digest"):  # the other host's bytes are not it
            client.resolve("app", digest)

    assert [a.path for a in attacker.arrivals] == [f"/elsewhere/{digest}"]
    assert attacker.arrivals[0].authorization is None


def test_an_upload_session_on_another_host_gets_no_credentials(
    docker_registry: DockerRegistry, repository_name: str, attacker: RecordingServer,
    make_client: ClientFactory,
) -> None:  # fmt: skip
    attacker.status = 201
    ImagePusher(docker_registry.url).push_image(repository_name, "v1")
    with FaultProxy(docker_registry.url) as proxy:
        client = make_client(proxy.host, BasicAuth(*USER))
        subject = client.resolve(repository_name, "v1").descriptor
        proxy.edit(
            lambda a: a.header("Location", f"{attacker.url}/upload/session"),
            method="POST",
            path="/blobs/uploads/",
            times=5,
        )
        with pytest.raises(SignerError):  # the fake session never stores the blob
            client.push_signature(repository_name, subject, b"x", COSE_MEDIA_TYPE, ANNOTATIONS)

    assert attacker.arrivals, "the upload was not sent to the named session at all"
    assert all(a.authorization is None for a in attacker.arrivals)


@pytest.mark.parametrize(
    "location",
    [
        "ftp://127.0.0.1/v2/app/manifests/v1",
        "http://[::1/v2/app/manifests/v1",
        "http://user:pw@127.0.0.1:1/v2/",
        "http://127.0.0.1:99999/v2/",
        "http://exa mple/v2/",
        "javascript:alert(1)",
    ],
)
def test_unusable_redirect_targets_are_registry_errors(
    location: str, oci_registry: OciRegistry, make_client: ClientFactory
) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    with FaultProxy(oci_registry.url) as proxy:

        def redirect(answer: Answer) -> None:
            answer.status, answer.content = 302, b""
            answer.header("Location", location)

        proxy.edit(redirect, method="GET", path="/manifests/v1")
        with pytest.raises(RegistryError, match=r"redirect refused|unusable"):
            make_client(proxy.host).resolve("app", "v1")


def test_a_redirect_loop_ends_as_a_registry_error(
    oci_registry: OciRegistry, make_client: ClientFactory
) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    with FaultProxy(oci_registry.url) as proxy:

        def loop(answer: Answer) -> None:
            answer.status, answer.content = 302, b""
            answer.header("Location", "/v2/app/manifests/v1")

        proxy.edit(loop, method="GET", path="/manifests/v1", times=50)
        with pytest.raises(RegistryError, match="more than 5 redirects"):
            make_client(proxy.host).resolve("app", "v1")
        assert proxy.count("GET", "/manifests/v1") == 6


@pytest.mark.parametrize("link", ['<ftp://127.0.0.1/x>; rel="next"', '<http://[::1/x>; rel="next"'])
def test_unusable_next_page_links_are_registry_errors(
    link: str, oci_registry: OciRegistry, make_client: ClientFactory
) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    with FaultProxy(oci_registry.url) as proxy:
        client = make_client(proxy.host)
        subject = client.resolve("app", "v1").descriptor
        proxy.edit(lambda a: a.header("Link", link), method="GET", path="/referrers/")
        with pytest.raises(RegistryError, match="unusable"):
            client.list_referrers("app", subject)


@pytest.mark.parametrize("realm", ["ftp://127.0.0.1/token", "http://[::1/token", "not a url"])
def test_unusable_token_realms_are_authentication_errors(
    realm: str, make_client: ClientFactory
) -> None:
    registry = _registry("bearer")
    with registry, FaultProxy(registry.url) as proxy:
        proxy.edit(
            lambda a: a.header("WWW-Authenticate", f'Bearer realm="{realm}",service="x"'),
            path="/v2/",
            times=10,
        )
        with pytest.raises(AuthenticationError, match="unusable token realm"):
            make_client(proxy.host, BearerAuth(*USER)).resolve("app", "v1")


@pytest.mark.parametrize(
    "token", ["abc\nsecretpart", "tök€nsecretpart", "with secretpart space", "x" * 20000]
)
def test_malformed_tokens_are_refused_without_being_quoted(
    token: str, make_client: ClientFactory
) -> None:
    registry = _registry("bearer")
    with registry, FaultProxy(registry.url) as proxy:
        body = json.dumps({"token": token, "expires_in": 300}).encode()

        def realm_via_proxy(answer: Answer) -> None:
            challenge = dict(answer.headers).get("WWW-Authenticate", "")
            answer.header("WWW-Authenticate", challenge.replace(registry.host, proxy.host))

        def hostile_token(answer: Answer) -> None:
            answer.content = body

        proxy.edit(hostile_token, path="^/token", times=5)
        proxy.edit(realm_via_proxy, path="^/v2/", times=5)
        client = make_client(proxy.host, BearerAuth(*USER))
        client.scope = lambda repository: f"repository:{repository}:pull"  # type: ignore[method-assign]
        with pytest.raises(AuthenticationError, match="malformed token") as raised:
            client.resolve("app", "v1")
    assert "secretpart" not in str(raised.value) and "x" * 100 not in str(raised.value)


@pytest.mark.parametrize("header", ["Content-Length", "Retry-After"])
def test_unicode_digits_in_numeric_headers_do_not_escape(
    header: str, oci_registry: OciRegistry, make_client: ClientFactory
) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    with FaultProxy(oci_registry.url) as proxy:

        def superscript(answer: Answer) -> None:
            if header == "Retry-After":
                answer.status = 503
            answer.header(header, "\u00b2")  # str.isdigit() is True, int() refuses it

        proxy.edit(superscript, method="GET", path="/manifests/v1", times=10)
        with pytest.raises((RegistryError, TransientRegistryError)):
            make_client(proxy.host, retries=1).resolve("app", "v1")


def test_a_trickled_answer_is_cut_at_the_deadline(
    oci_registry: OciRegistry, make_client: ClientFactory
) -> None:
    ImagePusher(oci_registry.url).push_image("app", "v1")
    with FaultProxy(oci_registry.url) as proxy:
        proxy.trickle(0.2, method="GET", path="/manifests/v1", times=5)
        started = time.monotonic()
        with pytest.raises(TransientRegistryError, match="no complete answer within 1 s"):
            make_client(proxy.host, timeout=1.0, retries=1).resolve("app", "v1")
        # two attempts of one second each (plus back-off), not the body's ~100 s
        assert time.monotonic() - started < 5


Listing = tuple[FaultProxy, RegistryClient, Descriptor]


@pytest.fixture
def listing(oci_registry: OciRegistry, make_client: ClientFactory) -> Iterator[Listing]:
    """An image's referrers listing through the fault proxy: (proxy, client, subject)."""
    ImagePusher(oci_registry.url).push_image("app", "v1")
    with FaultProxy(oci_registry.url) as proxy:
        client = make_client(proxy.host)
        yield proxy, client, client.resolve("app", "v1").descriptor


def test_an_oversized_referrers_page_is_a_registry_error(listing: Listing) -> None:
    proxy, client, subject = listing

    def huge(answer: Answer) -> None:
        answer.content = b'{"manifests": [' + b" " * (5 * 1024 * 1024) + b"]}"

    proxy.edit(huge, method="GET", path="/referrers/")
    with pytest.raises(RegistryError, match="more than allowed"):
        client.list_referrers("app", subject)


def test_a_listing_of_pages_each_under_the_cap_is_bounded_in_all(listing: Listing) -> None:
    proxy, client, subject = listing
    pages = 0

    def endless(answer: Answer) -> None:
        nonlocal pages
        pages += 1
        # 3 MiB of whitespace in each page (under the 4 MiB page cap), always a next one
        answer.content = b'{"schemaVersion": 2, "manifests": [' + b" " * (3 << 20) + b"]}"
        answer.header("Content-Length", str(len(answer.content)))
        answer.header("Link", f'</v2/app/referrers/{subject.digest}?n={pages}>; rel="next"')

    proxy.edit(endless, method="GET", path="/referrers/", times=50)
    with pytest.raises(RegistryError, match="larger than 8388608 bytes in all"):
        client.list_referrers("app", subject)
    assert pages == 3  # 9 MiB read, the fourth page never asked for


def test_a_deeply_nested_manifest_is_a_registry_error(
    docker_registry: DockerRegistry, repository_name: str, make_client: ClientFactory
) -> None:
    image = push_nested_manifest(ImagePusher(docker_registry.url), repository_name)
    with pytest.raises(RegistryError, match="nested too deeply"):
        make_client(docker_registry.host).resolve(repository_name, image.digest)
