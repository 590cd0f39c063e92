"""Helpers shared by the resilience tests: the platform's redelivery loop, referrers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from signer.errors import TransientError
from tests.plugins.app import SignerApp
from tests.servers.images import OCI_MANIFEST, ImagePusher, PushedImage, compact, sha256
from tests.servers.oci_registry import OciRegistry

MakeApp = Callable[..., SignerApp]
#: the registry client's timeout in the fault tests (SIGNER_HTTP_TIMEOUT_SECONDS)
TIMEOUT_SECONDS = 1
#: the Key Vault signer's read timeout in the vault fault tests
VAULT_READ_TIMEOUT = 1.0
SBOM_TYPE = "application/spdx+json"


def deliver_until_acknowledged(
    deliver: Callable[[], Any], *, attempts: int = 5, pause: float = 0.0
) -> int:
    """What Event Grid does: deliver again while the handler raises a transient error.

    Returns how many deliveries it took; a permanent error or anything else propagates.
    """
    for attempt in range(1, attempts + 1):
        try:
            deliver()
        except TransientError:
            if attempt == attempts:
                raise
            time.sleep(pause)
            continue
        return attempt
    raise AssertionError("unreachable")


def push_sbom_referrer(
    pusher: ImagePusher, repository: str, subject: PushedImage
) -> tuple[PushedImage, dict[str, Any]]:
    """An unrelated referrer (an SBOM artifact) of ``subject``, listed in the tag-schema index.

    Written with the independent pusher, as another tool (oras) would on a registry
    without the referrers API. Returns the artifact and its index entry.
    """
    blob = b'{"spdxVersion": "SPDX-2.3"}'
    pusher.push_blob(repository, blob)
    empty = b"{}"
    pusher.push_blob(repository, empty)
    manifest = compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SBOM_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": sha256(empty),
                "size": len(empty),
            },
            "layers": [{"mediaType": SBOM_TYPE, "digest": sha256(blob), "size": len(blob)}],
            "subject": subject.descriptor(),
        }
    )
    artifact = pusher.push_manifest(repository, sha256(manifest), manifest, OCI_MANIFEST)
    entry = {**artifact.descriptor(), "artifactType": SBOM_TYPE}
    index = compact(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [entry],
        }
    )
    tag = "sha256-" + subject.digest.split(":", 1)[1]
    pusher.push_manifest(repository, tag, index, "application/vnd.oci.image.index.v1+json")
    return artifact, entry


@contextmanager
def anonymous(registry: OciRegistry) -> Iterator[None]:
    """Look at (or seed) the registry without auth, as a test; the app's view is unchanged."""
    mode = registry.auth
    registry.auth = "none"
    try:
        yield
    finally:
        registry.auth = mode
