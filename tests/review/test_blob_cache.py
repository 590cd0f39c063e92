"""Review: the client's memory of which blobs a repository holds.

Real parts: Debian's docker-registry (delete enabled, as a registry with retention or
``oras blob delete`` has it), Azurite, the function's entry point.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable

import pytest

from scripts.sample_events import push_event
from signer.errors import TransientError
from signer.mediatypes import EMPTY_JSON_DIGEST
from tests.plugins.app import SignerApp
from tests.servers.images import LAYER, OCI_MANIFEST, compact, sha256

MakeApp = Callable[..., SignerApp]


def test_a_deleted_config_blob_is_uploaded_again_not_retried_for_ever(
    make_app: MakeApp, repository_name: str
) -> None:
    """``BlobUploader.ensure`` caches "the ``{}`` blob is in this repository" for the life
    of the worker and never forgets it. Once someone deletes that blob, every signature
    manifest PUT in the repository answers MANIFEST_BLOB_UNKNOWN; ``_put_manifest`` sends
    the same body again and gives up as transient: each event is redelivered for 24 h and
    nothing in that repository is signed again until the worker restarts."""
    app = make_app()
    first = app.pusher.push_image(repository_name, "v1")
    app.deliver(push_event(app.registry_host, repository_name, first.digest, size=first.size))
    assert app.verify(repository_name, first.digest).verified
    app.pusher.session.delete(
        f"{app.pusher.base_url}/v2/{repository_name}/blobs/{EMPTY_JSON_DIGEST}", timeout=10
    ).raise_for_status()
    # a second image whose config is not the {} blob (so pushing it does not restore it)
    config = b'{"architecture":"amd64","os":"linux"}'
    layer = gzip.compress(b"second\n", mtime=0)
    app.pusher.push_blob(repository_name, config)
    app.pusher.push_blob(repository_name, layer)
    body = compact({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": LAYER, "digest": sha256(layer), "size": len(layer)}],
    })  # fmt: skip
    second = app.pusher.push_manifest(repository_name, "v2", body, OCI_MANIFEST)
    event = push_event(app.registry_host, repository_name, second.digest, size=second.size)

    for _ in range(2):  # a redelivery must heal it: the client should upload the blob again
        try:
            app.deliver(event)
            break
        except TransientError:
            continue
    else:
        pytest.fail("every delivery failed: the worker never uploads the {} blob again")
    assert app.verify(repository_name, second.digest).verified
