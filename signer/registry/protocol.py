"""What the signing and verifying paths need from a registry: one typed interface.

``RegistryClient`` (the OCI distribution client in this package) implements it; another
transport (a vendor SDK, a test double) implements these five methods and nothing above
this line changes. After notation-go's ``registry.Repository``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from signer.models import Descriptor
from signer.registry.client import MAX_BLOB_SIZE, PushedSignature, ResolvedManifest
from signer.registry.referrers import ReferrerList


class Registry(Protocol):
    @property
    def registry(self) -> str:
        """The host this client serves (``myreg.azurecr.io``)."""
        ...

    def resolve(self, repository: str, reference: str) -> ResolvedManifest:
        """A manifest by tag or digest; the descriptor is computed from the bytes served."""
        ...

    def fetch_manifest(self, repository: str, descriptor: Descriptor) -> bytes:
        """Manifest bytes for a known descriptor, checked against its digest and size."""
        ...

    def fetch_blob(
        self, repository: str, descriptor: Descriptor, max_size: int = MAX_BLOB_SIZE
    ) -> bytes:
        """Blob bytes for a known descriptor (at most ``max_size``), checked against its
        digest."""
        ...

    def list_referrers(self, repository: str, subject: Descriptor) -> ReferrerList:
        """Every referrer of ``subject`` (referrers API, else the tag schema)."""
        ...

    def push_signature(
        self,
        repository: str,
        subject: Descriptor,
        envelope: bytes,
        envelope_media_type: str,
        annotations: Mapping[str, str],
        *,
        fence: Callable[[], None],
    ) -> PushedSignature:
        """Push a signature manifest and make it discoverable; ``fence()`` before each write."""
        ...
