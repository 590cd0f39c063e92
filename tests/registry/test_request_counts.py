"""Round trips per signature (resolve + list + push), counted at the registry.

Budget in steady state: at most 4 with the referrers API, at most 6 on the tag
schema. The first signature on a cold client may cost more (referrers probe,
``{}`` HEAD, learning that single-POST uploads are unsupported); the numbers
are pinned exactly so a regression shows up as a failing count.
"""

from __future__ import annotations

import time

from signer.mediatypes import COSE_MEDIA_TYPE
from signer.registry import RegistryClient
from tests.registry.conftest import ANNOTATIONS, ClientFactory
from tests.servers import oci_registry as routes
from tests.servers.docker_registry import DockerRegistry
from tests.servers.images import ImagePusher
from tests.servers.oci_registry import OciRegistry


def _sign(client: RegistryClient, repository: str, tag: str) -> bool:
    subject = client.resolve(repository, tag).descriptor
    client.list_referrers(repository, subject)  # as the service does
    envelope = f"envelope {time.time_ns()}".encode()
    pushed = client.push_signature(repository, subject, envelope, COSE_MEDIA_TYPE, ANNOTATIONS)
    return pushed.referrers_api


def _counts_in_memory(registry: OciRegistry, client: RegistryClient, rounds: int) -> list[int]:
    pusher = ImagePusher(registry.url)
    counts = []
    for i in range(rounds):
        pusher.push_image("app", f"v{i}")
        registry.clear_requests()
        _sign(client, "app", f"v{i}")
        counts.append(registry.count())
    return counts


def test_referrers_api_costs_four_requests(make_client: ClientFactory) -> None:
    with OciRegistry() as registry:
        counts = _counts_in_memory(registry, make_client(registry.host), 4)
        # first: GET manifest, GET referrers, HEAD {}, POST envelope, PUT manifest
        assert counts == [5, 4, 4, 4]
        assert [r.route for r in registry.requests] == [
            routes.MANIFEST,
            routes.REFERRERS,
            routes.UPLOADS,
            routes.MANIFEST,
        ]


def test_tag_schema_with_single_post_uploads_costs_six(make_client: ClientFactory) -> None:
    with OciRegistry(referrers_api=False) as registry:
        counts = _counts_in_memory(registry, make_client(registry.host), 3)
        # GET manifest, GET index (listing), POST envelope, PUT signature, GET index again
        # right before the write (a writer outside our lock may have changed it), PUT index;
        # first: + referrers probe (404) and HEAD {}
        assert counts == [8, 6, 6]
        assert [r.route for r in registry.requests] == [
            routes.MANIFEST,
            routes.MANIFEST,
            routes.UPLOADS,
            routes.MANIFEST,
            routes.MANIFEST,
            routes.MANIFEST,
        ]
        assert [r.method for r in registry.requests] == ["GET", "GET", "POST", "PUT", "GET", "PUT"]


def test_tag_schema_without_single_post_costs_seven(make_client: ClientFactory) -> None:
    with OciRegistry(referrers_api=False, monolithic_upload=False) as registry:
        client = make_client(registry.host)
        counts = _counts_in_memory(registry, client, 3)
        assert counts == [9, 7, 7]
        # after the first 202 the body is no longer sent with the POST
        posts = [r.path for r in registry.requests if r.route == routes.UPLOADS]
        assert posts == ["/v2/app/blobs/uploads/"]


def test_docker_registry_counts(
    docker_registry: DockerRegistry, repository_name: str, make_client: ClientFactory
) -> None:
    pusher = ImagePusher(docker_registry.url)
    client = make_client(docker_registry.host)
    counts = []
    for i in range(3):
        pusher.push_image(repository_name, f"v{i}")
        before = len(docker_registry.access_log(repository_name))
        assert _sign(client, repository_name, f"v{i}") is False
        counts.append(len(docker_registry.access_log(repository_name)) - before)
    # first: GET manifest, GET referrers (404), GET tag index (404), HEAD {},
    # POST+digest (202), PUT upload, PUT signature, GET tag index again, PUT index
    assert counts == [9, 7, 7]


def test_docker_registry_counts_with_cleanup(
    docker_registry: DockerRegistry, repository_name: str, make_client: ClientFactory
) -> None:
    pusher = ImagePusher(docker_registry.url)
    pusher.push_image(repository_name, "v1")
    client = make_client(docker_registry.host, referrers_tag_cleanup=True)
    _sign(client, repository_name, "v1")
    counts = []
    for _ in range(2):
        before = len(docker_registry.access_log(repository_name))
        _sign(client, repository_name, "v1")
        counts.append(len(docker_registry.access_log(repository_name)) - before)
    # a second signature on the same image supersedes an index: + DELETE
    assert counts == [8, 8]
    deletes = [e for e in docker_registry.access_log(repository_name) if e.method == "DELETE"]
    assert [e.status for e in deletes] == [202, 202]
