"""Credentials: basic against docker-registry, the bearer challenge, ACR's token exchange."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from signer.errors import AuthenticationError
from signer.mediatypes import COSE_MEDIA_TYPE
from signer.registry import AcrAuth, AnonymousAuth, BasicAuth, BearerAuth, RegistryClient
from signer.registry.tokens import jwt_expiry, parse_challenge
from tests.plugins.registry import BASIC_USER
from tests.registry.conftest import ANNOTATIONS, ClientFactory, FakeCredential
from tests.servers import oci_registry as routes
from tests.servers.docker_registry import DockerRegistry
from tests.servers.images import ImagePusher
from tests.servers.oci_registry import OciRegistry


def _cycle(client: RegistryClient, repository: str) -> None:
    """One signature: resolve, list, push (a unique envelope each time)."""
    subject = client.resolve(repository, "v1").descriptor
    client.list_referrers(repository, subject)  # as the service does
    client.push_signature(
        repository,
        subject,
        b"env-" + repository.encode() + str(time.time()).encode(),
        COSE_MEDIA_TYPE,
        ANNOTATIONS,
    )


def test_basic_auth_against_docker_registry_htpasswd(
    docker_registry_basic: DockerRegistry, repository_name: str, make_client: ClientFactory
) -> None:
    pusher = ImagePusher(docker_registry_basic.url)
    pusher.session.auth = BASIC_USER
    pusher.push_image(repository_name, "v1")

    _cycle(make_client(docker_registry_basic.host, BasicAuth(*BASIC_USER)), repository_name)

    entries = docker_registry_basic.access_log(repository_name)
    assert all(e.status != 401 for e in entries)  # basic is sent up front: no challenge trips
    with pytest.raises(AuthenticationError, match="401"):
        make_client(docker_registry_basic.host, BasicAuth("signer", "wrong")).resolve(
            repository_name, "v1"
        )
    with pytest.raises(AuthenticationError):
        make_client(docker_registry_basic.host).resolve(repository_name, "v1")


def _seed(registry: OciRegistry, *repositories: str) -> None:
    mode = registry.auth
    registry.auth = "none"
    for repository in repositories:
        ImagePusher(registry.url).push_image(repository, "v1")
    registry.auth = mode
    registry.clear_requests()


def test_bearer_challenge_with_credentials_then_cached(make_client: ClientFactory) -> None:
    with OciRegistry(auth="bearer", users={"bob": "pw"}) as registry:
        _seed(registry, "one", "two")
        client = make_client(registry.host, BearerAuth("bob", "pw"))

        _cycle(client, "one")
        assert registry.count(route=routes.TOKEN) == 1
        assert registry.count(method="GET", route=routes.MANIFEST) == 2  # 401, then retried
        first_round = registry.count()

        _cycle(client, "one")
        assert registry.count(route=routes.TOKEN) == 1  # token reused
        assert all(r.status != 401 for r in registry.requests[first_round:])

        _cycle(client, "two")  # new repository: token fetched up front, no 401
        assert registry.count(route=routes.TOKEN) == 2
        assert sum(1 for r in registry.requests if r.status == 401) == 1
        assert all(r.authorization == "basic" for r in registry.requests if r.route == routes.TOKEN)
        assert all(
            r.authorization == "bearer"
            for r in registry.requests
            if r.route != routes.TOKEN and r.status != 401
        )


def test_bearer_with_wrong_credentials_fails_cleanly(make_client: ClientFactory) -> None:
    with OciRegistry(auth="bearer", users={"bob": "pw"}) as registry:
        _seed(registry, "one")
        client = make_client(registry.host, BearerAuth("bob", "nope"))
        with pytest.raises(AuthenticationError, match="refused") as raised:
            client.resolve("one", "v1")
        assert "nope" not in str(raised.value)


def test_token_without_push_rights_is_an_authentication_error(make_client: ClientFactory) -> None:
    with OciRegistry(auth="bearer") as registry:
        _seed(registry, "one")
        registry.permissions = {"one": {"pull"}}
        client = make_client(registry.host, AnonymousAuth())
        subject = client.resolve("one", "v1").descriptor  # pull works anonymously
        with pytest.raises(AuthenticationError):
            client.push_signature("one", subject, b"e", COSE_MEDIA_TYPE, ANNOTATIONS)


def test_acr_exchange_is_cached_across_operations(make_client: ClientFactory) -> None:
    with OciRegistry(auth="acr") as registry:
        _seed(registry, "one", "two")
        credential = FakeCredential()
        client = make_client(registry.host, AcrAuth(credential), referrers_tag_cleanup=True)

        for _ in range(3):
            _cycle(client, "one")
        _cycle(client, "two")
        _cycle(client, "two")

        assert registry.count("POST", routes.EXCHANGE) == 1
        assert registry.count("POST", routes.ACR_TOKEN) == 2  # one per repository scope
        assert len(credential.calls) == 1
        assert credential.calls[0] == ("https://containerregistry.azure.net/.default",)
        assert not [r for r in registry.requests if r.status == 401]
        # 5 signatures at 4 registry requests each (API), + one HEAD of {} per repository
        registry_calls = registry.count() - 3
        assert registry_calls == 5 * 4 + 2


def test_acr_tokens_refreshed_after_expiry(make_client: ClientFactory) -> None:
    with OciRegistry(auth="acr", token_ttl=2, refresh_token_ttl=3600) as registry:
        _seed(registry, "one")
        client = make_client(registry.host, AcrAuth(FakeCredential()))
        _cycle(client, "one")
        assert registry.count("POST", routes.ACR_TOKEN) == 1
        time.sleep(2.1)
        _cycle(client, "one")
        assert registry.count("POST", routes.ACR_TOKEN) == 2
        assert registry.count("POST", routes.EXCHANGE) == 1  # refresh token still good
        assert not [r for r in registry.requests if r.status == 401]


def test_acr_revoked_tokens_recover_with_one_challenge(make_client: ClientFactory) -> None:
    with OciRegistry(auth="acr") as registry:
        _seed(registry, "one")
        client = make_client(registry.host, AcrAuth(FakeCredential()))
        _cycle(client, "one")
        registry.tokens.revoke_all()  # refresh and access tokens both stop working

        _cycle(client, "one")

        assert registry.count("POST", routes.EXCHANGE) == 2
        assert sum(1 for r in registry.requests if r.status == 401) == 1


def test_acr_rejected_identity(make_client: ClientFactory) -> None:
    with OciRegistry(auth="acr") as registry:
        _seed(registry, "one")
        registry.entra_tokens = {"the-right-one"}
        client = make_client(registry.host, AcrAuth(FakeCredential("wrong")))
        with pytest.raises(AuthenticationError, match="exchange") as raised:
            client.resolve("one", "v1")
        assert "wrong" not in str(raised.value)


def test_challenge_parsing_and_jwt_expiry() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://r.example/oauth2/token",service="r.example",'
        'scope="repository:a/b:pull,push"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://r.example/oauth2/token",
        "service": "r.example",
        "scope": "repository:a/b:pull,push",
    }
    # header {"alg":"none"}, payload {"exp": 1900000000}
    assert jwt_expiry("eyJhbGciOiJub25lIn0.eyJleHAiOiAxOTAwMDAwMDAwfQ.x") == 1900000000.0
    assert jwt_expiry("not-a-jwt") is None


def test_sixteen_cold_workers_share_one_token_exchange(make_client: ClientFactory) -> None:
    with OciRegistry(auth="acr") as registry:
        _seed(registry, "one")
        client = make_client(registry.host, AcrAuth(FakeCredential()))

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda _: client.resolve("one", "v1"), range(16)))

        assert len({r.descriptor.digest for r in results}) == 1
        assert registry.count("POST", routes.EXCHANGE) == 1
        assert registry.count("POST", routes.ACR_TOKEN) == 1
        assert registry.count("GET", routes.MANIFEST) == 16
