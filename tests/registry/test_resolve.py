"""Resolving and fetching: descriptors come from the registry's own bytes."""

from __future__ import annotations

import hashlib
import json

import pytest

from signer.errors import DigestMismatchError, ManifestTooLargeError, NotFoundError
from signer.mediatypes import OCI_INDEX, OCI_MANIFEST
from signer.models import Descriptor
from signer.registry.client import MAX_MANIFEST_SIZE
from tests.registry.conftest import ClientFactory, Target
from tests.servers.oci_registry import OciRegistry


def test_resolve_by_tag_and_digest(target: Target, make_client: ClientFactory) -> None:
    image = target.pusher.push_image(target.repository, "v1")
    client = make_client(target.host)

    by_tag = client.resolve(target.repository, "v1")
    by_digest = client.resolve(target.repository, image.digest)

    for resolved in (by_tag, by_digest):
        assert resolved.descriptor == Descriptor(OCI_MANIFEST, image.digest, image.size)
        assert resolved.content == image.content
        assert resolved.manifest["layers"][0]["mediaType"].endswith("tar+gzip")


def test_resolve_index_reports_index_media_type(target: Target, make_client: ClientFactory) -> None:
    index, children = target.pusher.push_index(target.repository, "multi")
    client = make_client(target.host)

    resolved = client.resolve(target.repository, "multi")

    assert resolved.descriptor == Descriptor(OCI_INDEX, index.digest, index.size)
    assert [m["digest"] for m in resolved.manifest["manifests"]] == [c.digest for c in children]
    child = Descriptor(OCI_MANIFEST, children[1].digest, children[1].size)
    assert client.fetch_manifest(target.repository, child) == children[1].content


def test_missing_tag_and_unknown_digest(target: Target, make_client: ClientFactory) -> None:
    target.pusher.push_image(target.repository, "v1")
    client = make_client(target.host)

    with pytest.raises(NotFoundError, match=rf"{target.repository}:nope"):
        client.resolve(target.repository, "nope")
    unknown = "sha256:" + "1" * 64
    with pytest.raises(NotFoundError, match=unknown):
        client.resolve(target.repository, unknown)


def test_manifest_served_with_wrong_bytes_is_a_digest_mismatch(
    oci_registry: OciRegistry, make_client: ClientFactory
) -> None:
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    claimed = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    oci_registry.put_raw_manifest("app", claimed, body, OCI_MANIFEST, digest=claimed)
    oci_registry.put_raw_manifest("app", "v1", body, OCI_MANIFEST, digest=claimed)
    client = make_client(oci_registry.host)

    with pytest.raises(DigestMismatchError, match=claimed):
        client.resolve("app", claimed)
    # by tag, the Docker-Content-Digest header is the only claim to check against
    with pytest.raises(DigestMismatchError, match="Docker-Content-Digest"):
        client.resolve("app", "v1")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversize_manifest_is_refused(
    oci_registry: OciRegistry, make_client: ClientFactory, chunked: bool
) -> None:
    oci_registry.chunked_manifests = chunked
    padding = "x" * (MAX_MANIFEST_SIZE + 1)
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "annotations": {"p": padding}}
    )
    oci_registry.put_raw_manifest("app", "big", body.encode(), OCI_MANIFEST)
    client = make_client(oci_registry.host)

    with pytest.raises(ManifestTooLargeError):
        client.resolve("app", "big")


def test_manifest_just_under_the_cap_is_accepted(
    oci_registry: OciRegistry, make_client: ClientFactory
) -> None:
    oci_registry.chunked_manifests = True
    head = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "annotations": {"p": ""}})
    body = head.replace('""', '"' + "x" * (MAX_MANIFEST_SIZE - len(head)) + '"').encode()
    assert len(body) == MAX_MANIFEST_SIZE
    oci_registry.put_raw_manifest("app", "edge", body, OCI_MANIFEST)

    assert make_client(oci_registry.host).resolve("app", "edge").descriptor.size == len(body)


def test_fetch_blob_verifies_digest_and_size(target: Target, make_client: ClientFactory) -> None:
    image = target.pusher.push_image(target.repository, "v1")
    layer = json.loads(image.content)["layers"][0]
    client = make_client(target.host)
    good = Descriptor.from_json(layer)

    assert (
        hashlib.sha256(client.fetch_blob(target.repository, good)).hexdigest()
        == (layer["digest"].split(":")[1])
    )
    with pytest.raises(DigestMismatchError):
        client.fetch_blob(
            target.repository, Descriptor(good.media_type, good.digest, good.size - 1)
        )
    with pytest.raises(DigestMismatchError):
        client.fetch_blob(
            target.repository, Descriptor(good.media_type, good.digest, good.size + 1)
        )
    with pytest.raises(Exception, match="limit"):
        client.fetch_blob(target.repository, good, max_size=good.size - 1)
