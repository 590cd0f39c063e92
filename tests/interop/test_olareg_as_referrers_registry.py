"""Real olareg shows the referrers-API behaviours the in-memory stand-in is trusted for.

tests/servers/oci_registry.py plays a referrers-API registry in tests/registry and
tests/cli. Where a test only needs what olareg does for real, olareg can take its place;
with the fault proxy in front it also gets request counts and injected faults. These
tests pin the behaviours such a move relies on: the request budget of a signature, the
artifactType filter, and retries through the proxy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import requests

from signer.mediatypes import COSE_MEDIA_TYPE, NOTARY_SIGNATURE_ARTIFACT
from signer.registry import AnonymousAuth, RegistryClient
from tests.servers.fault_proxy import FaultProxy
from tests.servers.images import ImagePusher
from tests.servers.olareg import Olareg


@pytest.fixture
def proxy(olareg: Olareg) -> Iterator[FaultProxy]:
    with FaultProxy(olareg.url) as proxy:
        yield proxy


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[RegistryClient]:
    client = RegistryClient(proxy.host, auth=AnonymousAuth(), insecure=True, retry_backoff=0.001)
    yield client
    client.close()


def _sign(client: RegistryClient, repository: str, tag: str) -> bool:
    subject = client.resolve(repository, tag).descriptor
    client.list_referrers(repository, subject)  # as the service does
    envelope = f"envelope {uuid.uuid4()}".encode()
    return client.push_signature(repository, subject, envelope, COSE_MEDIA_TYPE, {}).referrers_api


def test_a_signature_costs_what_it_costs_on_the_stand_in(
    olareg: Olareg, proxy: FaultProxy, client: RegistryClient
) -> None:
    """tests/registry/test_request_counts.py's budget: 5 requests, then 4 once warm."""
    repository = f"counts/{uuid.uuid4().hex[:8]}"
    pusher = ImagePusher(olareg.url)
    counts, routes = [], []
    for i in range(3):
        pusher.push_image(repository, f"v{i}")
        proxy.clear_seen()
        assert _sign(client, repository, f"v{i}")  # OCI-Subject came back: referrers API
        counts.append(len(proxy.seen))
        prefix = f"/v2/{repository}/"
        routes = [(s.method, s.path.removeprefix(prefix).split("/")[0]) for s in proxy.seen]
    assert counts == [5, 4, 4]  # first: HEAD of the {} config blob
    # a single-POST upload of the envelope is accepted (no PATCH/PUT upload round trips)
    assert routes == [
        ("GET", "manifests"),
        ("GET", "referrers"),
        ("POST", "blobs"),
        ("PUT", "manifests"),
    ]


def test_referrers_are_filtered_by_artifact_type(olareg: Olareg, client: RegistryClient) -> None:
    repository = f"filter/{uuid.uuid4().hex[:8]}"
    image = ImagePusher(olareg.url).push_image(repository, "v1")
    _sign(client, repository, "v1")
    url = f"{olareg.url}/v2/{repository}/referrers/{image.digest}"

    signatures = requests.get(url, params={"artifactType": NOTARY_SIGNATURE_ARTIFACT}, timeout=10)
    others = requests.get(url, params={"artifactType": "application/spdx+json"}, timeout=10)

    assert signatures.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["artifactType"] for m in json.loads(signatures.content)["manifests"]] == [
        NOTARY_SIGNATURE_ARTIFACT
    ]
    assert json.loads(others.content)["manifests"] in (None, [])


def test_faults_in_front_of_olareg_are_retried(
    olareg: Olareg, proxy: FaultProxy, client: RegistryClient
) -> None:
    repository = f"faults/{uuid.uuid4().hex[:8]}"
    image = ImagePusher(olareg.url).push_image(repository, "v1")
    proxy.fail(503, method="GET", path=r"/manifests/v1$", times=2)

    assert client.resolve(repository, "v1").descriptor.digest == image.digest
    assert proxy.count("GET", r"/manifests/v1$", outcome="forwarded") == 1
    assert proxy.count("GET", r"/manifests/v1$") == 3
