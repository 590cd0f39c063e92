"""Why signer/registry speaks HTTP itself instead of going through azure-containerregistry.

Measured against the same ACR-style registry (token exchange behind a bearer
challenge): the SDK pays the whole challenge -> /oauth2/exchange -> /oauth2/token
dance on every call, four round trips to read one manifest, and hands back a
parsed model rather than the bytes a digest is checked against. Our client pays
the exchange once per registry and one token per repository, then one request
per operation. If a future SDK release caches tokens, this test fails and the
README's reasoning should be revisited.
"""

from __future__ import annotations

from azure.containerregistry import ContainerRegistryClient

from signer.registry import AcrAuth, RegistryClient
from tests.registry.conftest import FakeCredential
from tests.servers.images import ImagePusher
from tests.servers.oci_registry import OciRegistry

READS = 5


def test_sdk_reauthenticates_every_call_our_client_does_not() -> None:
    with OciRegistry(auth="none") as registry:
        image = ImagePusher(registry.url).push_image("app", "v1")
        registry.auth = "acr"

        before = len(registry.requests)
        sdk = ContainerRegistryClient(
            registry.url, FakeCredential(), audience="https://containerregistry.azure.net"
        )
        for _ in range(READS):
            manifest = sdk.get_manifest("app", image.digest, enforce_https=False)
        sdk_requests = len(registry.requests) - before
        # a parsed model: the served bytes (what a signature pins) are not available
        assert not isinstance(manifest.manifest, bytes | bytearray)

        before = len(registry.requests)
        with RegistryClient(registry.host, auth=AcrAuth(FakeCredential()), insecure=True) as ours:
            for _ in range(READS):
                resolved = ours.resolve("app", image.digest)
        our_requests = len(registry.requests) - before
        assert resolved.content == image.content

    assert sdk_requests == 4 * READS  # 401, exchange, token, GET: every time
    # ACR's token endpoint is known from the host, so no 401 first: exchange, token, GETs
    assert our_requests == READS + 2
