"""The function app end to end: host-shaped events and HTTP requests in, signatures out.

Real parts: Debian's docker-registry (tag-schema referrers), Azurite (ledger and
leases), the host's Event Grid converter and the decorated functions of
function_app.py. Each test uses its own repository, table and lease container.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from scripts.sample_events import push_event
from shared import runtime
from signer.errors import TransientError
from tests.plugins.app import SignerApp
from tests.servers.images import OCI_INDEX, OCI_MANIFEST

MakeApp = Callable[..., SignerApp]


def test_push_event_produces_one_verifiable_signature(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    event = push_event(
        app.registry_host, repository_name, image.digest, size=image.size, event_id="evt-1"
    )
    app.deliver(event)

    sigs = app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)
    assert len(sigs) == 1
    verdict = app.verify(repository_name, image.digest)
    assert verdict.verified, verdict.error
    [row] = app.history(image.digest)
    assert row["status"] == "signed"
    assert row["signatureDigest"] == sigs[0].digest
    assert row["repository"] == repository_name
    assert row["tag"] == "v1"
    assert row["eventId"] == "evt-1"
    assert len(row["certificateThumbprint"]) == 64

    # a redelivery of the same event does not pile up signatures
    app.deliver(push_event(app.registry_host, repository_name, image.digest, event_id="evt-2"))
    assert len(app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)) == 1
    latest = app.history(image.digest)[0]
    assert latest["status"] == "skipped"
    assert "by the current certificate exists" in latest["reason"]


def test_cloudevents_schema(make_app: MakeApp, repository_name: str) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    app.deliver(push_event(app.registry_host, repository_name, image.digest, cloudevents=True))
    assert app.verify(repository_name, image.digest).verified


def test_chart_pushed_oci_chart_is_signed_legacy_chart_is_skipped(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "1.0.0")
    chart = "Microsoft.ContainerRegistry.ChartPushed"
    app.deliver(
        push_event(app.registry_host, repository_name, image.digest, tag="1.0.0", event_type=chart)
    )
    assert app.verify(repository_name, image.digest).verified

    legacy_digest = "sha256:" + "7" * 64
    app.deliver(
        push_event(
            app.registry_host,
            repository_name,
            legacy_digest,
            tag="mychart-1.0.0.tgz",
            media_type="application/vnd.acr.helm.chart",
            event_type=chart,
        )
    )
    [row] = app.history(legacy_digest)
    assert row["status"] == "skipped"
    assert "legacy Helm" in row["reason"]


def test_other_event_types_are_ignored(make_app: MakeApp, repository_name: str) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    deleted = "Microsoft.ContainerRegistry.ImageDeleted"
    app.deliver(push_event(app.registry_host, repository_name, image.digest, event_type=deleted))
    assert app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST) == []
    assert app.history(image.digest) == []


@pytest.mark.parametrize(
    ("overrides", "tag", "reason"),
    [
        ({"SIGNER_INCLUDE_REPOSITORIES": "prod/*"}, "v1", "matches no include pattern"),
        ({"SIGNER_EXCLUDE_REPOSITORIES": "test/*"}, "v1", "is excluded"),
        ({"SIGNER_INCLUDE_TAGS": "release-*"}, "v1", "tag 'v1' matches no include pattern"),
        ({"SIGNER_EXCLUDE_TAGS": "v*"}, "v1", "tag 'v1' is excluded"),
        ({}, None, "untagged push"),
    ],
)
def test_filters_skip_and_record(
    make_app: MakeApp,
    repository_name: str,
    overrides: dict[str, str],
    tag: str | None,
    reason: str,
) -> None:
    app = make_app(**overrides)
    image = app.pusher.push_image(repository_name, tag)
    app.deliver(push_event(app.registry_host, repository_name, image.digest, tag=tag))
    assert app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST) == []
    [row] = app.history(image.digest)
    assert row["status"] == "skipped"
    assert reason in row["reason"]


def test_untagged_pushes_signed_when_enabled(make_app: MakeApp, repository_name: str) -> None:
    app = make_app(SIGNER_SIGN_UNTAGGED="true")
    image = app.pusher.push_image(repository_name, None)
    app.deliver(push_event(app.registry_host, repository_name, image.digest, tag=None))
    assert app.verify(repository_name, image.digest).verified


def test_loop_guard_never_signs_signatures_or_referrers_indexes(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app(SIGNER_SIGN_UNTAGGED="true")
    image = app.pusher.push_image(repository_name, "v1")
    app.deliver(push_event(app.registry_host, repository_name, image.digest))
    [signature] = app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)

    # the signature manifest's own push event (untagged)
    app.deliver(
        push_event(app.registry_host, repository_name, signature.digest, tag=None, event_id="e2")
    )
    [row] = app.history(signature.digest)
    assert row["status"] == "skipped"
    assert "signature" in row["reason"]

    # the tag-schema index's push event
    index_tag = "sha256-" + image.digest.split(":", 1)[1]
    with app.client() as client:
        index = client.resolve(repository_name, index_tag).descriptor
    app.deliver(
        push_event(app.registry_host, repository_name, index.digest, tag=index_tag, event_id="e3")
    )
    [row] = app.history(index.digest)
    assert row["status"] == "skipped"
    assert "referrers tag-schema index" in row["reason"]
    # still exactly one signature on the image, none on the signature or index
    assert len(app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)) == 1
    assert app.signatures(repository_name, signature.digest, signature.size, OCI_MANIFEST) == []


def test_index_children_signed_when_enabled(make_app: MakeApp, repository_name: str) -> None:
    app = make_app(SIGNER_SIGN_INDEX_CHILDREN="true")
    index, children = app.pusher.push_index(repository_name, "multi")
    app.deliver(
        push_event(
            app.registry_host, repository_name, index.digest, tag="multi", media_type=OCI_INDEX
        )
    )
    assert app.verify(repository_name, index.digest).verified
    for child in children:
        assert app.verify(repository_name, child.digest).verified


def test_index_children_left_alone_by_default(make_app: MakeApp, repository_name: str) -> None:
    app = make_app()
    index, children = app.pusher.push_index(repository_name, "multi")
    app.deliver(push_event(app.registry_host, repository_name, index.digest, tag="multi"))
    assert app.verify(repository_name, index.digest).verified
    assert not app.verify(repository_name, children[0].digest).verified


def test_event_for_another_registry_is_recorded_not_signed(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    app.deliver(push_event("evil.azurecr.io", repository_name, image.digest))
    assert app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST) == []
    [row] = app.history(image.digest)
    assert row["status"] == "failed"
    assert "evil.azurecr.io" in row["reason"]


def test_event_for_missing_digest_is_recorded_failed(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app()
    missing = "sha256:" + "0" * 64
    app.deliver(push_event(app.registry_host, repository_name, missing))
    [row] = app.history(missing)
    assert row["status"] == "failed"
    assert "not found" in row["reason"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e["data"].pop("target"),
        lambda e: e["data"]["target"].update(digest="sha256:short"),
        lambda e: e["data"]["target"].update(repository="../../etc/passwd"),
        lambda e: e["data"]["target"].update(repository=["a"]),
        lambda e: e["data"].update(request="not-an-object"),
        lambda e: e.update(data="not-an-object"),
    ],
)
def test_malformed_events_are_recorded_and_acknowledged(
    make_app: MakeApp, repository_name: str, mutate: Callable[[dict[str, Any]], object]
) -> None:
    app = make_app()
    event = push_event(app.registry_host, repository_name, "sha256:" + "1" * 64)
    mutate(event)
    app.deliver(event)  # acknowledged: no exception
    rows = app.handlers.ledger.history("invalid-event")
    assert rows and rows[0]["status"] == "failed"
    assert rows[0]["reason"].startswith("event ")


def test_registry_down_raises_for_redelivery_then_succeeds(
    make_app: MakeApp, repository_name: str
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    event = push_event(app.registry_host, repository_name, image.digest)
    down = make_app(SIGNER_REGISTRY="127.0.0.1:9", SIGNER_HTTP_TIMEOUT_SECONDS="1")
    with pytest.raises(TransientError):
        down.deliver({**event, "data": {**event["data"], "request": {"host": "127.0.0.1:9"}}})
    app = make_app()
    app.deliver(event)
    assert app.verify(repository_name, image.digest).verified


def test_concurrent_duplicate_deliveries_make_exactly_one_signature(
    make_app: MakeApp, repository_name: str
) -> None:
    # separate handler instances (own registry clients and caches) stand in for
    # separate workers; only the blob lease keeps them from signing twice
    apps = [make_app() for _ in range(6)]
    image = apps[0].pusher.push_image(repository_name, "v1")
    event = push_event(apps[0].registry_host, repository_name, image.digest)
    errors: list[BaseException] = []

    def deliver(app: SignerApp) -> None:
        try:
            for _ in range(2):
                app.handlers.on_event(event["id"], event["eventType"], event["data"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    sigs = apps[0].signatures(repository_name, image.digest, image.size, OCI_MANIFEST)
    assert len(sigs) == 1
    statuses = [row["status"] for row in apps[0].history(image.digest)]
    assert statuses.count("signed") == 1
    assert statuses.count("skipped") == 11


# --- HTTP ----------------------------------------------------------------------------


def test_http_sign_by_tag_then_status(make_app: MakeApp, repository_name: str) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v2")
    ref = f"{app.registry_host}/{repository_name}:v2"
    status, body = app.http_sign({"reference": ref, "userMetadata": {"env": "prod"}})
    assert status == 200, body
    [result] = body["results"]
    assert result["status"] == "signed"
    assert result["digest"] == image.digest

    code, status_body = app.http_status(ref)
    assert code == 200
    assert status_body["digest"] == image.digest
    assert status_body["status"] == "signed"
    assert status_body["history"][0]["signatureDigest"] == result["signatureDigest"]

    # again: skipped; forced: a second signature
    status, body = app.http_sign({"reference": ref})
    assert (status, body["results"][0]["status"]) == (200, "skipped")
    status, body = app.http_sign({"reference": ref, "force": True})
    assert (status, body["results"][0]["status"]) == (200, "signed")
    assert len(app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)) == 2


def test_http_batch_mixed_results(make_app: MakeApp, repository_name: str) -> None:
    app = make_app()
    a = app.pusher.push_image(repository_name, "a")
    b = app.pusher.push_image(repository_name, "b")
    host = app.registry_host
    status, body = app.http_sign(
        {
            "references": [
                f"{host}/{repository_name}:a",
                f"{host}/{repository_name}@{b.digest}",
                f"{host}/{repository_name}:missing",
                f"other.azurecr.io/{repository_name}:a",
            ]
        }
    )
    assert status == 207
    results = body["results"]
    assert [r["status"] for r in results] == ["signed", "signed", "failed", "failed"]
    assert results[0]["digest"] == a.digest
    assert results[2]["code"] == "not_found"
    assert results[3]["code"] == "wrong_registry"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 400, "must be a JSON object"),
        (b"{}", 400, 'exactly one of "reference" or "references"'),
        (b'{"reference": "a", "references": ["b"]}', 400, "exactly one"),
        (b'{"references": []}', 400, "non-empty array"),
        (b'{"references": [1]}', 400, "must be a string"),
        (b'{"reference": "x/y:z", "force": "yes"}', 400, '"force" must be true or false'),
        (b'{"reference": "x/y:z", "expiry": 5}', 400, '"expiry" must be a duration'),
        (b'{"reference": "x/y:z", "expiry": "forever"}', 400, "is not a duration"),
        (b'{"reference": "x/y:z", "userMetadata": {"a": 1}}', 400, "string values"),
        (b'{"reference": "x/y:z", "extra": 1}', 400, "unknown fields: extra"),
        (b'{"references": [' + b'"a/b:c",' * 100 + b'"a/b:c"]}', 400, "at most 100"),
        (b'{"reference": "' + b"a" * 70000 + b'"}', 400, "larger than"),
    ],
)
def test_http_bad_bodies(make_app: MakeApp, body: bytes, status: int, message: str) -> None:
    app = make_app()
    code, answer = app.http_sign(body)
    assert code == status
    assert message in answer["error"]["message"]


def test_http_invalid_reference_is_400(make_app: MakeApp) -> None:
    app = make_app()
    code, body = app.http_sign({"reference": f"{app.registry_host}/Bad Repo:v1"})
    assert code == 400
    assert body["results"][0]["code"] == "invalid_reference"


def test_http_missing_tag_is_404(make_app: MakeApp, repository_name: str) -> None:
    app = make_app()
    code, body = app.http_sign({"reference": f"{app.registry_host}/{repository_name}:nope"})
    assert code == 404
    assert "not found" in body["results"][0]["reason"]


def test_status_errors(make_app: MakeApp, repository_name: str) -> None:
    app = make_app()
    assert app.http_status("")[0] == 400
    assert app.http_status("no-registry")[0] == 400
    assert app.http_status(f"{app.registry_host}/{repository_name}:nope")[0] == 404
    never = f"{app.registry_host}/{repository_name}@sha256:" + "2" * 64
    code, body = app.http_status(never)
    assert (code, body["status"]) == (404, "unknown")


def test_worker_builds_clients_once(make_app: MakeApp) -> None:
    app = make_app()
    assert runtime.handlers() is app.handlers
    assert runtime.handlers() is runtime.handlers()
