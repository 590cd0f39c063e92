"""Push small test images to any registry over plain HTTP, independent of the code under test.

The shape matches the notary vectors' subjects: an empty ``{}`` config typed
``application/vnd.oci.empty.v1+json`` and one small layer.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PushedImage:
    media_type: str
    digest: str
    size: int
    content: bytes

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class ImagePusher:
    """Minimal OCI pusher (POST + PUT uploads, manifest PUT) over a caller-supplied session."""

    def __init__(self, base_url: str, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = sha256(data)
        start = self.session.post(f"{self.base_url}/v2/{repository}/blobs/uploads/", timeout=10)
        start.raise_for_status()
        location = urljoin(self.base_url + "/", start.headers["Location"])
        done = self.session.put(
            location,
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=10,
        )
        done.raise_for_status()
        return digest

    def push_manifest(
        self, repository: str, reference: str, body: bytes, media_type: str
    ) -> PushedImage:
        answer = self.session.put(
            f"{self.base_url}/v2/{repository}/manifests/{reference}",
            data=body,
            headers={"Content-Type": media_type},
            timeout=10,
        )
        answer.raise_for_status()
        return PushedImage(media_type, sha256(body), len(body), body)

    def push_image(
        self, repository: str, tag: str | None = None, *, layer_text: str = ""
    ) -> PushedImage:
        """An OCI image manifest (``{}`` config, one gzip layer); tagged when ``tag`` is given."""
        config = b"{}"
        layer = gzip.compress((layer_text or f"layer of {repository}:{tag}\n").encode(), mtime=0)
        self.push_blob(repository, config)
        self.push_blob(repository, layer)
        manifest = compact(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_EMPTY, "digest": sha256(config), "size": len(config)},
                "layers": [{"mediaType": LAYER, "digest": sha256(layer), "size": len(layer)}],
            }
        )
        return self.push_manifest(repository, tag or sha256(manifest), manifest, OCI_MANIFEST)

    def push_index(
        self, repository: str, tag: str | None = None
    ) -> tuple[PushedImage, list[PushedImage]]:
        """An image index with two child images (amd64, arm64); returns (index, children)."""
        children = []
        entries = []
        for arch in ("amd64", "arm64"):
            child = self.push_image(repository, layer_text=f"{repository} {tag} {arch}\n")
            children.append(child)
            entries.append(
                {**child.descriptor(), "platform": {"architecture": arch, "os": "linux"}}
            )
        index = compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        return self.push_manifest(repository, tag or sha256(index), index, OCI_INDEX), children


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def push_nested_manifest(pusher: ImagePusher, repository: str, depth: int = 5000) -> PushedImage:
    """A valid image manifest carrying an extra member nested ``depth`` arrays deep.

    About 10 KB that a real registry stores (Go's JSON decoder allows 10,000 levels) and
    Python's ``json`` cannot read (RecursionError): an ordinary push a signer must survive.
    """
    config = pusher.push_blob(repository, b"{}")
    manifest = (
        b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'",'
        b'"config":{"mediaType":"' + OCI_EMPTY.encode() + b'","digest":"' + config.encode()
        + b'","size":2},"layers":[],"x":' + b"[" * depth + b"]" * depth + b"}"
    )  # fmt: skip
    return pusher.push_manifest(repository, sha256(manifest), manifest, OCI_MANIFEST)
