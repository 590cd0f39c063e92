"""Property tests: a hostile registry and hostile pushers against the whole event path.

* Hostile answers: the real docker-registry, behind a shim (the fault proxy's ``edit``)
  that rewrites one answer per event: headers that name other hosts or carry malformed
  numbers, statuses, truncated, random, huge or deeply nested bodies. Whatever it does,
  the event handler answers with a result or a ``TransientError`` (never another
  exception), leaves a ledger row, sends no credential to another host, and anything it
  signs is the pushed digest.
* Hostile pushes: arbitrary JSON pushed as a manifest (whatever a real registry accepts),
  then its event: the same answers, and a signature, if any, pins exactly that manifest.

Deterministic in CI (``tests.fuzzing``); ``make fuzz`` explores with random seeds.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from scripts.sample_events import push_event
from signer.errors import TransientError
from tests.fuzzing import examples
from tests.plugins.app import SignerApp
from tests.resilience.helpers import MakeApp
from tests.servers.fault_proxy import Answer, FaultProxy
from tests.servers.images import OCI_INDEX, OCI_MANIFEST, sha256
from tests.servers.recorder import RecordingServer

ROUTES = ["/manifests/", "/referrers/", "/blobs/uploads/", "/blobs/", "/v2/$"]
fixtures_ok = examples(25, suppress_health_check=[HealthCheck.function_scoped_fixture])
# enough fixed examples that CI meets a hostile Link, Location and body on both registries
# (with 25 the old code's credential leak and crashes slipped through; make fuzz found them)
registry_examples = examples(60, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def attacker() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture(params=["docker-registry", "olareg"])
def hostile_registry(request: pytest.FixtureRequest) -> Iterator[FaultProxy]:
    """The shim in front of a real registry: tag schema (distribution) or referrers API."""
    registry = request.getfixturevalue(
        "docker_registry" if request.param == "docker-registry" else "olareg"
    )
    with FaultProxy(registry.url) as proxy:
        yield proxy


def _urls(attacker_url: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            f"{attacker_url}/v2/steal",
            f"{attacker_url}/v2/steal?n=1&last=x",
            "ftp://127.0.0.1/x",
            "http://[::1/x",
            "//evil.example/v2/x",
            "/v2/../../etc/passwd",
            "javascript:alert(1)",
            "\u00b2",
            "",
        ]
    ) | st.text(max_size=40)


header_values = st.sampled_from(
    ["\u00b2", "-1", "99999999999999999999", "0", "1e3", " ", ""]
) | st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30)


def _body(kind: str, content: bytes, param: Any) -> bytes:
    """The edited body; everything random was drawn beforehand (edits run in the proxy)."""
    if kind == "truncate":
        return content[: int(len(content) * float(param))]
    if kind == "random":
        return bytes(param)
    if kind == "nested":
        depth = int(param)
        return b'{"manifests":' + b"[" * depth + b"]" * depth + b"}"
    if kind == "json":
        return json.dumps(param).encode()
    if kind == "huge":
        return b'{"manifests":[' + b" " * (4 * 1024 * 1024 + 10) + b"]}"
    return content


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


def _deliver(app: SignerApp, event: dict[str, Any]) -> None:
    with contextlib.suppress(TransientError):  # redelivered by the platform: allowed
        app.deliver(event)


@registry_examples
@given(st.data())
def test_a_hostile_registry_never_breaks_the_event_path(
    make_app_on: Callable[..., SignerApp],
    hostile_registry: FaultProxy,
    attacker: RecordingServer,
    repository_name: str,
    data: st.DataObject,
) -> None:
    registry_proxy = hostile_registry
    app = make_app_on(
        registry_proxy,
        SIGNER_HTTP_TIMEOUT_SECONDS="2",
        SIGNER_REGISTRY_AUTH="basic",
        SIGNER_REGISTRY_USERNAME="u",
        SIGNER_REGISTRY_PASSWORD="hostile-test-password",
    )
    repository = f"{repository_name}-{data.draw(st.integers(0, 10**6))}"
    image = app.pusher.push_image(repository, "v1")
    route = data.draw(st.sampled_from(ROUTES))
    status = data.draw(
        st.none() | st.sampled_from([200, 201, 202, 204, 301, 302, 307, 400, 404, 500])
    )
    header = data.draw(
        st.none()
        | st.sampled_from(
            [
                "Link",
                "Location",
                "Content-Type",
                "Content-Length",
                "Retry-After",
                "WWW-Authenticate",
                "Docker-Content-Digest",
                "OCI-Subject",
            ]
        )
    )
    value = data.draw(_urls(attacker.url) if header in ("Link", "Location") else header_values)
    if header == "Link":
        value = f'<{value}>; rel="next"'
    body_kind = data.draw(st.sampled_from(["keep", "truncate", "random", "nested", "json", "huge"]))
    param = {
        "truncate": st.floats(0, 0.99),
        "random": st.binary(max_size=200),
        "nested": st.integers(900, 20_000),
        "json": _json,
    }.get(body_kind, st.none())
    body_param = data.draw(param)

    def edit(answer: Answer) -> None:
        if status is not None:
            answer.status = status
        if header is not None:
            answer.header(header, value)
        answer.content = _body(body_kind, answer.content, body_param)

    registry_proxy.clear_rules()
    registry_proxy.edit(edit, path=route, times=data.draw(st.integers(1, 3)))
    before = len(app.history(image.digest))

    _deliver(app, push_event(app.registry_host, repository, image.digest, size=image.size))

    registry_proxy.clear_rules()
    rows = app.history(image.digest)
    assert len(rows) > before, "no ledger row for the event"
    assert all(a.authorization is None for a in attacker.arrivals), attacker.arrivals
    if any(r["status"] == "signed" for r in rows):  # what was signed is what was pushed
        verdict = app.verify(repository, image.digest)
        assert verdict.verified, verdict.error


@fixtures_ok
@given(st.data())
def test_hostile_pushed_artifacts_are_answered_and_never_mis_signed(
    make_app: MakeApp, repository_name: str, data: st.DataObject
) -> None:
    app = make_app(SIGNER_SIGN_UNTAGGED="true", SIGNER_SIGN_INDEX_CHILDREN="true")
    repository = f"{repository_name}-{data.draw(st.integers(0, 10**6))}"
    config = app.pusher.push_blob(repository, b"{}")
    media_type = data.draw(st.sampled_from([OCI_MANIFEST, OCI_INDEX]))
    base: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if media_type == OCI_MANIFEST:
        base["config"] = {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": config,
            "size": 2,
        }
        base["layers"] = []
    else:
        child = app.pusher.push_image(repository, layer_text=data.draw(st.text(max_size=10)))
        entry = data.draw(
            st.sampled_from(
                [
                    child.descriptor(),
                    {"digest": child.digest},
                    {**child.descriptor(), "mediaType": "bad\r\ntype"},
                    {**child.descriptor(), "size": -1},
                ]
            )
        )
        base["manifests"] = [entry, child.descriptor()]
    extra = data.draw(
        st.dictionaries(
            st.sampled_from(["subject", "artifactType", "annotations", "x", "manifests", "layers"]),
            _json,
            max_size=2,
        )
    )
    manifest = json.dumps({**base, **extra}).encode()
    pushed = requests.put(
        f"{app.pusher.base_url}/v2/{repository}/manifests/{sha256(manifest)}",
        data=manifest,
        headers={"Content-Type": media_type},
        timeout=10,
    )
    if pushed.status_code != 201:
        return  # the real registry refused it: nothing to handle
    digest = sha256(manifest)

    _deliver(
        app, push_event(app.registry_host, repository, digest, tag=None, media_type=media_type)
    )

    rows = app.history(digest)
    assert rows, "no ledger row for an accepted push"
    for row in rows:
        assert row["status"] in ("signed", "skipped", "failed")
    signed = [r for r in rows if r["status"] == "signed"]
    if signed:
        verdict = app.verify(repository, digest)
        assert verdict.verified, verdict.error
