"""Pushing signatures and finding them again, via the referrers API and the tag schema."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from signer.loopguard import signature_artifact_reason
from signer.mediatypes import (
    COSE_MEDIA_TYPE,
    EMPTY_JSON_DIGEST,
    NOTARY_SIGNATURE_ARTIFACT,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
)
from signer.models import Descriptor
from signer.registry import RegistryClient, referrers_tag
from signer.registry.manifests import digest_of
from tests.registry.conftest import ANNOTATIONS, ClientFactory, Target, subject_of
from tests.servers import oci_registry as routes
from tests.servers.images import ImagePusher, compact
from tests.servers.oci_registry import OciRegistry


def _sign(client: RegistryClient, repository: str, tag: str, envelope: bytes) -> str:
    resolved = client.resolve(repository, tag)
    client.list_referrers(repository, resolved.descriptor)  # as the service does
    pushed = client.push_signature(
        repository, resolved.descriptor, envelope, COSE_MEDIA_TYPE, ANNOTATIONS
    )
    return pushed.descriptor.digest


def test_signature_is_pushed_and_listed(target: Target, make_client: ClientFactory) -> None:
    image = target.pusher.push_image(target.repository, "v1")
    client = make_client(target.host)
    subject = client.resolve(target.repository, "v1").descriptor

    before = client.list_referrers(target.repository, subject)
    pushed = client.push_signature(
        target.repository,
        subject,
        b"stand-in envelope",
        COSE_MEDIA_TYPE,
        ANNOTATIONS,
    )
    after = client.list_referrers(target.repository, subject)

    api = target.kind == "oci-referrers"
    assert before.descriptors == ()
    assert pushed.referrers_api is api
    assert after.source == ("api" if api else "tag-schema")
    assert [d.digest for d in after.signatures] == [pushed.descriptor.digest]
    listed = after.signatures[0]
    assert listed.artifact_type == NOTARY_SIGNATURE_ARTIFACT
    assert dict(listed.annotations or {}) == ANNOTATIONS
    assert listed.size == pushed.descriptor.size
    # the manifest in the registry is the notation shape, and points at the image
    stored = client.fetch_manifest(target.repository, pushed.descriptor)
    manifest = json.loads(stored)
    assert list(manifest) == [
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "subject",
        "annotations",
    ]
    assert manifest["config"] == {
        "mediaType": NOTARY_SIGNATURE_ARTIFACT,
        "digest": EMPTY_JSON_DIGEST,
        "size": 2,
    }
    assert manifest["subject"] == image.descriptor()
    assert signature_artifact_reason(manifest) is not None
    envelope = client.fetch_blob(target.repository, Descriptor.from_json(manifest["layers"][0]))
    assert envelope == b"stand-in envelope"


def test_two_signatures_are_both_kept(target: Target, make_client: ClientFactory) -> None:
    target.pusher.push_image(target.repository, "v1")
    first = _sign(make_client(target.host), target.repository, "v1", b"envelope one")
    # a second client (another function instance) knows nothing cached
    second = _sign(make_client(target.host), target.repository, "v1", b"envelope two")

    client = make_client(target.host)
    subject = client.resolve(target.repository, "v1").descriptor
    listed = client.list_referrers(target.repository, subject)
    assert [d.digest for d in listed.signatures] == [first, second]


def test_same_signature_twice_is_listed_once(target: Target, make_client: ClientFactory) -> None:
    target.pusher.push_image(target.repository, "v1")
    client = make_client(target.host)
    first = _sign(client, target.repository, "v1", b"same envelope")
    again = _sign(client, target.repository, "v1", b"same envelope")
    subject = client.resolve(target.repository, "v1").descriptor

    assert first == again
    assert [d.digest for d in client.list_referrers(target.repository, subject).signatures] == [
        first
    ]


def _push_sbom(pusher: ImagePusher, repository: str, subject: dict[str, object]) -> str:
    """An unrelated referrer (OCI 1.1 artifact form) such as another tool would push."""
    pusher.push_blob(repository, b"{}")
    layer = pusher.push_blob(repository, b'{"spdxVersion":"SPDX-2.3"}')
    body = compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
            "layers": [{"mediaType": "application/spdx+json", "digest": layer, "size": 26}],
            "subject": subject,
        }
    )
    return pusher.push_manifest(repository, digest_of(body), body, OCI_MANIFEST).digest


def test_existing_unrelated_referrers_are_preserved_in_the_tag_index(
    docker_registry: object,
    docker_pusher: ImagePusher,
    repository_name: str,
    make_client: ClientFactory,
) -> None:
    image = docker_pusher.push_image(repository_name, "v1")
    sbom = _push_sbom(docker_pusher, repository_name, image.descriptor())
    existing = {
        "mediaType": OCI_MANIFEST,
        "digest": sbom,
        "size": 1,  # what matters is that it survives as written, unknown fields included
        "artifactType": "application/spdx+json",
        "platform": {"architecture": "amd64", "os": "linux"},
    }
    tag = referrers_tag(image.digest)
    docker_pusher.push_manifest(
        repository_name,
        tag,
        compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [existing]}),
        OCI_INDEX,
    )
    client = make_client(docker_pusher.base_url.split("//")[1])

    signature = _sign(client, repository_name, "v1", b"envelope")

    index = json.loads(client.resolve(repository_name, tag).content)
    assert index["manifests"][0] == existing
    assert [m["digest"] for m in index["manifests"]] == [sbom, signature]
    listed = client.list_referrers(repository_name, subject_of(image))
    assert [d.digest for d in listed.signatures] == [signature]
    assert len(listed.descriptors) == 2


def test_referrers_api_lists_other_artifacts_but_signatures_filters_them(
    oci_registry: OciRegistry, oci_pusher: ImagePusher, make_client: ClientFactory
) -> None:
    image = oci_pusher.push_image("app", "v1")
    sbom = _push_sbom(oci_pusher, "app", image.descriptor())
    client = make_client(oci_registry.host)

    signature = _sign(client, "app", "v1", b"envelope")
    listed = client.list_referrers("app", subject_of(image))

    assert {d.digest for d in listed.descriptors} == {sbom, signature}
    assert [d.digest for d in listed.signatures] == [signature]
    assert oci_registry.tags("app") == {"v1": image.digest}  # no tag-schema index written


def test_referrers_api_pagination_is_followed(
    oci_registry: OciRegistry, oci_pusher: ImagePusher, make_client: ClientFactory
) -> None:
    oci_registry.referrers_page_size = 2
    oci_pusher.push_image("app", "v1")
    client = make_client(oci_registry.host)
    pushed = [_sign(client, "app", "v1", b"envelope %d" % i) for i in range(5)]

    subject = client.resolve("app", "v1").descriptor
    oci_registry.clear_requests()
    listed = client.list_referrers("app", subject)

    assert [d.digest for d in listed.signatures] == pushed
    assert oci_registry.count("GET", routes.REFERRERS) == 3


def test_tag_cleanup_deletes_the_superseded_index(
    docker_pusher: ImagePusher, repository_name: str, make_client: ClientFactory
) -> None:
    image = docker_pusher.push_image(repository_name, "v1")
    host = docker_pusher.base_url.split("//")[1]
    client = make_client(host, referrers_tag_cleanup=True)
    _sign(client, repository_name, "v1", b"envelope one")
    tag = referrers_tag(image.digest)
    first_index = client.resolve(repository_name, tag).descriptor

    _sign(client, repository_name, "v1", b"envelope two")

    second_index = client.resolve(repository_name, tag).descriptor
    assert second_index.digest != first_index.digest
    gone = docker_pusher.session.get(
        f"{docker_pusher.base_url}/v2/{repository_name}/manifests/{first_index.digest}",
        headers={"Accept": OCI_INDEX},
        timeout=5,
    )
    assert gone.status_code == 404
    assert len(client.list_referrers(repository_name, subject_of(image)).signatures) == 2


def test_cleanup_tolerates_a_registry_that_refuses_deletes(
    oci_registry_no_referrers: OciRegistry, make_client: ClientFactory
) -> None:
    registry = oci_registry_no_referrers
    registry.delete_enabled = False
    ImagePusher(registry.url).push_image("app", "v1")
    client = make_client(registry.host, referrers_tag_cleanup=True)

    _sign(client, "app", "v1", b"one")
    _sign(client, "app", "v1", b"two")

    assert registry.count("DELETE", routes.MANIFEST) == 1
    subject = client.resolve("app", "v1").descriptor
    assert len(client.list_referrers("app", subject).signatures) == 2


def test_concurrent_signers_in_one_client_lose_no_signature(
    oci_registry_no_referrers: OciRegistry, make_client: ClientFactory
) -> None:
    registry = oci_registry_no_referrers
    ImagePusher(registry.url).push_image("app", "v1")
    client = make_client(registry.host)
    subject = client.resolve("app", "v1").descriptor
    # every worker lists before any pushes: each holds a stale view of the index
    for _ in range(8):
        client.list_referrers("app", subject)

    with ThreadPoolExecutor(8) as pool:
        pushed = list(
            pool.map(
                lambda i: (
                    client.push_signature(
                        "app",
                        subject,
                        b"env %d" % i,
                        COSE_MEDIA_TYPE,
                        ANNOTATIONS,
                    ).descriptor.digest
                ),
                range(8),
            )
        )

    listed = make_client(registry.host).list_referrers("app", subject)
    assert sorted(d.digest for d in listed.signatures) == sorted(pushed)


@pytest.mark.parametrize("api", [True, False])
def test_push_without_a_listing_reads_what_it_needs(api: bool, make_client: ClientFactory) -> None:
    with OciRegistry(referrers_api=api) as registry:
        ImagePusher(registry.url).push_image("app", "v1")
        client = make_client(registry.host)
        subject = client.resolve("app", "v1").descriptor
        client.push_signature("app", subject, b"one", COSE_MEDIA_TYPE, ANNOTATIONS)
        client.push_signature("app", subject, b"two", COSE_MEDIA_TYPE, ANNOTATIONS)

        listed = make_client(registry.host).list_referrers("app", subject)
        assert len(listed.signatures) == 2
        assert listed.source == ("api" if api else "tag-schema")


def test_in_memory_registry_filters_referrers_by_artifact_type(
    oci_registry: OciRegistry, oci_pusher: ImagePusher, make_client: ClientFactory
) -> None:
    image = oci_pusher.push_image("app", "v1")
    sbom = _push_sbom(oci_pusher, "app", image.descriptor())
    signature = _sign(make_client(oci_registry.host), "app", "v1", b"envelope")
    url = f"{oci_registry.url}/v2/app/referrers/{image.digest}"

    filtered = oci_pusher.session.get(url, params={"artifactType": NOTARY_SIGNATURE_ARTIFACT})
    unfiltered = oci_pusher.session.get(url)

    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [signature]
    assert "OCI-Filters-Applied" not in unfiltered.headers
    assert {m["digest"] for m in unfiltered.json()["manifests"]} == {sbom, signature}
