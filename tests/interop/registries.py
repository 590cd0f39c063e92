"""The two real registries of the tier, behind one face: olareg and Debian's docker-registry.

olareg v0.1.2 has the OCI 1.1 referrers API; docker-registry (distribution 2.8) has none, so
signatures there live in the referrers tag-schema index. ``signature_digests`` reads where
each one keeps them, with plain HTTP and none of the code under test, so a test can tell
that the path it meant to exercise is the one that was taken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import requests

from signer.connect import RegistryOptions, open_registry
from signer.credentials import build_credential
from signer.registry import RegistryClient
from tests.plugins.app import RegistryProcess
from tests.servers.images import ImagePusher

RegistryKind = Literal["olareg", "docker-registry"]
NOTARY_SIGNATURE = "application/vnd.cncf.notary.signature"


@dataclass(frozen=True)
class InteropRegistry:
    kind: RegistryKind
    process: RegistryProcess

    @property
    def host(self) -> str:
        return self.process.host

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def referrers_api(self) -> bool:
        return self.kind == "olareg"

    def pusher(self) -> ImagePusher:
        return ImagePusher(self.url)

    def client(self) -> RegistryClient:
        return open_registry(
            RegistryOptions(self.host, insecure=True), lambda: build_credential(None)
        )

    def signature_digests(self, repository: str, subject_digest: str) -> list[str]:
        """The Notary signatures listed for the subject, read where this registry keeps them."""
        if self.referrers_api:
            url = f"{self.url}/v2/{repository}/referrers/{subject_digest}"
            answer = requests.get(url, timeout=10)
        else:
            tag = subject_digest.replace(":", "-", 1)
            answer = requests.get(
                f"{self.url}/v2/{repository}/manifests/{tag}",
                headers={"Accept": "application/vnd.oci.image.index.v1+json"},
                timeout=10,
            )
        if answer.status_code == 404:
            return []
        answer.raise_for_status()
        entries = json.loads(answer.content).get("manifests") or []
        return [e["digest"] for e in entries if e.get("artifactType") == NOTARY_SIGNATURE]
