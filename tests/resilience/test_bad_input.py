"""Bad input: a corpus of malformed events and HTTP requests against the real app.

Every case gets its own specific answer (status, code and message), a ledger row where
the policy says one is due, and nothing is signed that should not be: the images in the
victim repository carry no referrers at the end of every case. Events go through
``Handlers.on_event`` (what the trigger calls, so the Result can be asserted) and a few
through the host's own Event Grid converter; HTTP bodies and queries through the
decorated functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scripts.sample_events import push_event
from signer.models import Descriptor
from tests.plugins.app import SignerApp
from tests.resilience.helpers import MakeApp, push_sbom_referrer
from tests.servers.docker_registry import DockerRegistry
from tests.servers.images import (
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    ImagePusher,
    PushedImage,
    compact,
    sha256,
)

HEX = "0123456789abcdef" * 4
MISSING = "sha256:" + "e" * 64  # well formed, never pushed
IMAGE_PUSHED = "Microsoft.ContainerRegistry.ImagePushed"
NOW = "2026-11-22T00:00:00.000000Z"


@dataclass(frozen=True)
class Victim:
    """A repository with two images the corpus must never get signed."""

    repository: str
    v1: PushedImage
    v2: PushedImage

    def images(self) -> tuple[PushedImage, ...]:
        return (self.v1, self.v2)


@pytest.fixture(scope="module")
def victim(docker_registry: DockerRegistry) -> Victim:
    pusher = ImagePusher(docker_registry.url)
    repository = "corpus/victim"
    return Victim(
        repository,
        pusher.push_image(repository, "v1", layer_text="victim v1\n"),
        pusher.push_image(repository, "v2", layer_text="victim v2\n"),
    )


@pytest.fixture
def app(make_app: MakeApp, victim: Victim) -> Iterator[SignerApp]:
    app = make_app()
    yield app
    for image in victim.images():  # nothing signed, whatever the case was
        signatures = app.signatures(victim.repository, image.digest, image.size, OCI_MANIFEST)
        assert signatures == [], f"{image.digest} got signed"


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    host: str
    repository: str
    d1: str
    d2: str


Mutation = Callable[[dict[str, Any], Ctx], object]


@dataclass(frozen=True)
class EventCase:
    name: str
    mutate: Mutation
    status: str  # failed | skipped | ignored
    code: str
    message: str


def _target(e: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = e["data"]["target"]
    return target


def _set(field: str, value: Any) -> Mutation:
    return lambda e, c: _target(e).__setitem__(field, value)


def _drop(field: str) -> Mutation:
    return lambda e, c: _target(e).pop(field)


def _repo(value: str) -> Mutation:
    return _set("repository", value)


def _digest(value: str) -> Mutation:
    return _set("digest", value)


def _host(value: Any) -> Mutation:
    return lambda e, c: e["data"]["request"].__setitem__("host", value)


INVALID = "invalid_event"
EVENT_CASES = [
    # wrong types
    EventCase(
        "data null",
        lambda e, c: e.update(data=None),
        "failed",
        INVALID,
        "data must be a JSON object",
    ),
    EventCase(
        "data list",
        lambda e, c: e.update(data=[1]),
        "failed",
        INVALID,
        "data must be a JSON object",
    ),
    EventCase(
        "data number",
        lambda e, c: e.update(data=7),
        "failed",
        INVALID,
        "data must be a JSON object",
    ),
    EventCase(
        "target list",
        lambda e, c: e["data"].update(target=[]),
        "failed",
        INVALID,
        "data.target must be a JSON object",
    ),
    EventCase(
        "repository int",
        _set("repository", 42),
        "failed",
        INVALID,
        "data.target.repository must be a string, got int",
    ),
    EventCase(
        "repository dict",
        _set("repository", {"name": "x"}),
        "failed",
        INVALID,
        "data.target.repository must be a string, got dict",
    ),
    EventCase(
        "digest int",
        _set("digest", 123),
        "failed",
        INVALID,
        "data.target.digest must be a string, got int",
    ),
    EventCase(
        "digest list",
        _set("digest", [HEX]),
        "failed",
        INVALID,
        "data.target.digest must be a string, got list",
    ),
    EventCase(
        "tag list",
        _set("tag", ["v1"]),
        "failed",
        INVALID,
        "data.target.tag must be a string, got list",
    ),
    EventCase(
        "tag bool",
        _set("tag", True),
        "failed",
        INVALID,
        "data.target.tag must be a string, got bool",
    ),
    EventCase(
        "mediaType int",
        _set("mediaType", 5),
        "failed",
        INVALID,
        "data.target.mediaType must be a string, got int",
    ),
    EventCase(
        "request list",
        lambda e, c: e["data"].update(request=["host"]),
        "failed",
        INVALID,
        "data.request must be a JSON object",
    ),
    EventCase(
        "host int", _host(443), "failed", INVALID, "data.request.host must be a string, got int"
    ),
    # missing fields
    EventCase(
        "no target",
        lambda e, c: e["data"].pop("target"),
        "failed",
        INVALID,
        "data.target is missing",
    ),
    EventCase(
        "no repository", _drop("repository"), "failed", INVALID, "data.target.repository is missing"
    ),
    EventCase(
        "repository null",
        _set("repository", None),
        "failed",
        INVALID,
        "data.target.repository is missing",
    ),
    EventCase("no digest", _drop("digest"), "failed", INVALID, "data.target.digest is missing"),
    EventCase(
        "no request",
        lambda e, c: e["data"].pop("request"),
        "failed",
        INVALID,
        "data.request.host is missing",
    ),
    EventCase(
        "no host",
        lambda e, c: e["data"]["request"].pop("host"),
        "failed",
        INVALID,
        "data.request.host is missing",
    ),
    EventCase("no id", lambda e, c: e.update(id=None), "failed", INVALID, "event id is missing"),
    EventCase(
        "blank id", lambda e, c: e.update(id="   "), "failed", INVALID, "event id is missing"
    ),
    # extra fields: ignored, never a way to redirect what gets signed
    EventCase(
        "extra fields point elsewhere",
        lambda e, c: (
            _target(e).update(
                digest=MISSING,
                url=f"http://{c.host}/v2/{c.repository}/manifests/{c.d1}",
                tags=["v1"],
            ),
            e["data"].update(evil={"digest": c.d1}),
            e.update(digest=c.d1),
        ),
        "failed",
        "not_found",
        "not found",
    ),
    # huge values
    EventCase(
        "repository 300 chars",
        _repo("a" * 300),
        "failed",
        INVALID,
        "repository name is 300 characters long",
    ),
    EventCase(
        "digest 100k chars", _digest("sha256:" + "a" * 100_000), "failed", INVALID, "invalid digest"
    ),
    EventCase("tag 129 chars", _set("tag", "t" * 129), "failed", INVALID, "invalid tag"),
    EventCase(
        "id 10k chars",
        lambda e, c: e.update(id="i" * 10_000),
        "failed",
        INVALID,
        "at most 128 printable characters",
    ),
    EventCase(
        "1 MB of extra payload",
        lambda e, c: (_target(e).update(digest=MISSING), e["data"].update(padding="x" * 1_000_000)),
        "failed",
        "not_found",
        "not found",
    ),
    # invalid digests
    EventCase(
        "digest uppercase", _digest("sha256:" + "A" * 64), "failed", INVALID, "invalid digest"
    ),
    EventCase("digest short", _digest("sha256:" + "a" * 63), "failed", INVALID, "invalid digest"),
    EventCase(
        "digest sha512 too short",
        _digest("sha512:" + "a" * 64),
        "failed",
        INVALID,
        "invalid digest",
    ),
    EventCase("digest md5", _digest("md5:" + "a" * 32), "failed", INVALID, "invalid digest"),
    EventCase("digest non-hex", _digest("sha256:" + "g" * 64), "failed", INVALID, "invalid digest"),
    EventCase(
        "digest trailing space",
        lambda e, c: _target(e).update(digest=c.d1 + " "),
        "failed",
        INVALID,
        "invalid digest",
    ),
    EventCase(
        "digest trailing newline",
        lambda e, c: _target(e).update(digest=c.d1 + "\n"),
        "failed",
        INVALID,
        "invalid digest",
    ),
    EventCase("digest empty", _digest(""), "failed", INVALID, "invalid digest"),
    EventCase(
        "digest arabic-indic digits",
        _digest("sha256:" + "\u0663" * 64),
        "failed",
        INVALID,
        "invalid digest",
    ),
    # path traversal and control characters in repository names
    EventCase(
        "traversal", _repo("corpus/../../victim"), "failed", INVALID, "invalid repository name"
    ),
    EventCase(
        "dot segment", _repo("corpus/./victim"), "failed", INVALID, "invalid repository name"
    ),
    EventCase(
        "encoded traversal",
        _repo("corpus%2F..%2Fvictim"),
        "failed",
        INVALID,
        "invalid repository name",
    ),
    EventCase("absolute", _repo("/corpus/victim"), "failed", INVALID, "invalid repository name"),
    EventCase(
        "trailing slash", _repo("corpus/victim/"), "failed", INVALID, "invalid repository name"
    ),
    EventCase("NUL", _repo("corpus/victim\x00"), "failed", INVALID, "invalid repository name"),
    EventCase(
        "trailing newline", _repo("corpus/victim\n"), "failed", INVALID, "invalid repository name"
    ),
    EventCase(
        "CRLF injection",
        _repo("corpus/victim\r\nX-Injected: 1"),
        "failed",
        INVALID,
        "invalid repository name",
    ),
    EventCase("tab", _repo("corpus/\tvictim"), "failed", INVALID, "invalid repository name"),
    EventCase("uppercase", _repo("Corpus/Victim"), "failed", INVALID, "invalid repository name"),
    EventCase("tag with newline", _set("tag", "v1\n"), "failed", INVALID, "invalid tag"),
    # unicode look-alikes
    EventCase(
        "cyrillic e", _repo("corpus/vi\u0441tim"), "failed", INVALID, "invalid repository name"
    ),
    EventCase(
        "fullwidth letters",
        _repo("\uff43orpus/victim"),
        "failed",
        INVALID,
        "invalid repository name",
    ),
    EventCase(
        "fullwidth solidus",
        _repo("corpus\uff0fvictim"),
        "failed",
        INVALID,
        "invalid repository name",
    ),
    EventCase("fullwidth digit tag", _set("tag", "v\uff11"), "failed", INVALID, "invalid tag"),
    EventCase(
        "zero-width space",
        _repo("corpus/vic\u200btim"),
        "failed",
        INVALID,
        "invalid repository name",
    ),
    EventCase(
        "look-alike host",
        lambda e, c: _host(c.host.replace("1", "\u0661"))(e, c),
        "failed",
        INVALID,
        "invalid registry host",
    ),
    # another registry host
    EventCase(
        "other registry",
        _host("evil.azurecr.io"),
        "failed",
        "wrong_registry",
        "event is for registry 'evil.azurecr.io'",
    ),
    EventCase(
        "same host, other port",
        lambda e, c: _host(c.host.rsplit(":", 1)[0] + ":1")(e, c),
        "failed",
        "wrong_registry",
        "this signer serves",
    ),
    EventCase(
        "host with path",
        lambda e, c: _host(c.host + "/v2/../x")(e, c),
        "failed",
        INVALID,
        "invalid registry host",
    ),
    EventCase(
        "host with userinfo",
        lambda e, c: _host("user@" + c.host)(e, c),
        "failed",
        INVALID,
        "invalid registry host",
    ),
    EventCase(
        "host trailing dot", _host("evil.azurecr.io."), "failed", INVALID, "invalid registry host"
    ),
    # things that parse but are not there, or not ours to sign
    EventCase("missing digest", _digest(MISSING), "failed", "not_found", "not found"),
    EventCase(
        "missing repository", _repo("corpus/nothing-here"), "failed", "not_found", "not found"
    ),
    EventCase(
        "event type deleted",
        lambda e, c: e.update(eventType="Microsoft.ContainerRegistry.ImageDeleted"),
        "ignored",
        "",
        "ImageDeleted",
    ),
    EventCase(
        "event type case variant",
        lambda e, c: e.update(eventType="microsoft.containerregistry.imagepushed"),
        "ignored",
        "",
        "imagepushed",
    ),
    EventCase(
        "event type list",
        lambda e, c: e.update(eventType=["Microsoft.ContainerRegistry.ImagePushed"]),
        "ignored",
        "",
        "event type",
    ),
    EventCase(
        "tag-schema index tag",
        lambda e, c: _target(e).update(tag="sha256-" + c.d1.split(":")[1]),
        "skipped",
        "is_referrers_index",
        "referrers tag-schema index",
    ),
]


def _ctx(app: SignerApp, victim: Victim) -> Ctx:
    return Ctx(app.registry_host, victim.repository, victim.v1.digest, victim.v2.digest)


def _valid_digest(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 71 and value.startswith("sha256:")


@pytest.mark.parametrize("case", EVENT_CASES, ids=lambda c: c.name)
def test_malformed_event(app: SignerApp, victim: Victim, case: EventCase) -> None:
    ctx = _ctx(app, victim)
    event = push_event(ctx.host, ctx.repository, ctx.d1, tag="v1", event_id="corpus-1")
    case.mutate(event, ctx)
    data = event.get("data")

    results = app.handlers.on_event(event.get("id"), event.get("eventType"), data)

    [result] = results
    assert (result.status, result.code) == (case.status, case.code), result
    assert case.message in result.reason, result.reason
    assert len(result.reason) < 1200  # a huge input is not echoed back whole
    target = data.get("target") if isinstance(data, dict) else None
    digest = target.get("digest") if isinstance(target, dict) else None
    if case.status == "ignored":
        assert app.history("invalid-event") == []
        return
    rows = app.history("invalid-event") if case.code == INVALID else app.history(str(digest))
    assert rows, "no ledger row"
    assert rows[0]["status"] == case.status
    assert rows[0]["reason"] == result.reason[: len(rows[0]["reason"])]
    if _valid_digest(digest) and digest != MISSING:
        assert all(r["status"] != "signed" for r in app.history(str(digest)))


@pytest.mark.parametrize(
    "body",
    [
        {"eventType": IMAGE_PUSHED, "id": "x", "data": "{}", "eventTime": NOW, "subject": "s"},
        {"eventType": IMAGE_PUSHED, "id": "y", "data": [], "eventTime": NOW, "subject": "s"},
        {"specversion": "1.0", "type": IMAGE_PUSHED, "id": "z", "source": "/s", "data": 5},
    ],
    ids=["data-is-a-string", "data-is-a-list", "cloudevent-data-number"],
)
def test_malformed_bodies_through_the_host_converter(app: SignerApp, body: dict[str, Any]) -> None:
    """The host's own Event Grid converter in front: acknowledged, recorded, nothing signed."""
    app.deliver(body)
    [row] = app.history("invalid-event")
    assert row["status"] == "failed"
    assert row["reason"] == "event data must be a JSON object"


def test_event_for_a_signature_artifact_is_skipped(make_app: MakeApp, repository_name: str) -> None:
    app = make_app(SIGNER_SIGN_UNTAGGED="true")
    image = app.pusher.push_image(repository_name, "v1")
    app.deliver(push_event(app.registry_host, repository_name, image.digest))
    [signature] = app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)

    for tag in (None, "sig"):  # its own push event, untagged or (oddly) tagged
        [result] = app.handlers.on_event(
            f"sig-{tag}",
            "Microsoft.ContainerRegistry.ImagePushed",
            push_event(app.registry_host, repository_name, signature.digest, tag=tag)["data"],
        )
        assert (result.status, result.code) == ("skipped", "is_signature")
        assert "artifact is a signature" in result.reason
    assert app.signatures(repository_name, signature.digest, signature.size, OCI_MANIFEST) == []
    assert len(app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)) == 1


def test_event_for_another_referrer_is_skipped(make_app: MakeApp, repository_name: str) -> None:
    """An SBOM that refers to an image (it has a subject) is not ours to sign."""
    app = make_app(SIGNER_SIGN_UNTAGGED="true")
    image = app.pusher.push_image(repository_name, "v1")
    sbom, _ = push_sbom_referrer(app.pusher, repository_name, image)

    [result] = app.handlers.on_event(
        "sbom",
        IMAGE_PUSHED,
        push_event(app.registry_host, repository_name, sbom.digest, tag=None)["data"],
    )

    assert (result.status, result.code) == ("skipped", "is_referrer")
    assert app.signatures(repository_name, sbom.digest, sbom.size, OCI_MANIFEST) == []
    assert app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST) == []


def test_untagged_event_for_the_tag_schema_index_is_skipped(
    make_app: MakeApp, repository_name: str
) -> None:
    """The loop guard knows the index by content too, not only by its sha256-<hex> tag.

    With index children on, the entries of a skipped index are not walked either.
    """
    app = make_app(SIGNER_SIGN_UNTAGGED="true", SIGNER_SIGN_INDEX_CHILDREN="true")
    image = app.pusher.push_image(repository_name, "v1")
    sbom, _ = push_sbom_referrer(app.pusher, repository_name, image)
    with app.client() as client:
        index = client.resolve(repository_name, "sha256-" + image.digest.split(":")[1]).descriptor
    event = push_event(
        app.registry_host, repository_name, index.digest, tag=None, media_type=index.media_type
    )

    [result] = app.handlers.on_event("index", IMAGE_PUSHED, event["data"])

    assert (result.status, result.code) == ("skipped", "is_referrers_index"), result
    assert image.digest in result.reason
    [row] = app.history(index.digest)
    assert (row["status"], row["eventId"]) == ("skipped", "index")
    assert app.signatures(repository_name, index.digest, index.size, index.media_type) == []
    assert app.history(sbom.digest) == []  # its entry was read, never handled as a child


def test_an_index_of_artifacts_without_subjects_is_signed(
    make_app: MakeApp, repository_name: str
) -> None:
    """Same shape as a referrers list, but its artifacts refer to nothing: a user's index."""
    app = make_app(SIGNER_SIGN_UNTAGGED="true")
    blob = b"chart bytes"
    app.pusher.push_blob(repository_name, blob)
    app.pusher.push_blob(repository_name, b"{}")
    chart_type = "application/vnd.example.chart"
    manifest = compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": chart_type,
            "config": {"mediaType": OCI_EMPTY, "digest": sha256(b"{}"), "size": 2},
            "layers": [{"mediaType": chart_type, "digest": sha256(blob), "size": len(blob)}],
        }
    )
    artifact = app.pusher.push_manifest(repository_name, sha256(manifest), manifest, OCI_MANIFEST)
    body = compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{**artifact.descriptor(), "artifactType": chart_type}],
        }
    )
    index = app.pusher.push_manifest(repository_name, "charts", body, OCI_INDEX)
    event = push_event(
        app.registry_host, repository_name, index.digest, tag=None, media_type=OCI_INDEX
    )

    [result] = app.handlers.on_event("charts", IMAGE_PUSHED, event["data"])

    assert result.status == "signed", result
    assert len(app.signatures(repository_name, index.digest, index.size, OCI_INDEX)) == 1


def test_tag_moved_between_event_and_resolution_signs_what_the_event_names(
    make_app: MakeApp, repository_name: str
) -> None:
    """The event says v1 is D1; by the time it is handled, v1 is D2. D1 is signed, never D2."""
    app = make_app()
    d1 = app.pusher.push_image(repository_name, "v1", layer_text="first\n")
    event = push_event(app.registry_host, repository_name, d1.digest, tag="v1", event_id="moved")
    d2 = app.pusher.push_image(repository_name, "v1", layer_text="second\n")  # v1 moves
    with app.client() as client:
        assert client.resolve(repository_name, "v1").descriptor.digest == d2.digest

    app.deliver(event)

    assert app.verify(repository_name, d1.digest).verified
    assert app.signatures(repository_name, d2.digest, d2.size, OCI_MANIFEST) == []
    [row] = app.history(d1.digest)
    assert (row["status"], row["tag"], row["eventId"]) == ("signed", "v1", "moved")
    assert app.history(d2.digest) == []


# --- HTTP ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpCase:
    name: str
    body: Callable[[Ctx], bytes]
    status: int
    message: str  # in error.message, or in the first result's reason
    code: str = "invalid_request"


def _json(make: Callable[[Ctx], Any]) -> Callable[[Ctx], bytes]:
    return lambda c: json.dumps(make(c)).encode()


def _ref(c: Ctx, rest: str) -> str:
    return f"{c.host}/{rest}"


HTTP_CASES = [
    HttpCase("empty body", lambda c: b"", 400, "not valid JSON"),
    HttpCase("null", lambda c: b"null", 400, "must be a JSON object"),
    HttpCase("string", lambda c: b'"a/b:c"', 400, "must be a JSON object"),
    HttpCase("invalid utf-8", lambda c: b'{"reference": "\xff\xfe"}', 400, "not valid JSON"),
    HttpCase(
        "deeply nested",
        lambda c: b'{"reference": ' + b"[" * 30000 + b"]" * 30000 + b"}",
        400,
        "not valid JSON",
    ),
    HttpCase(
        "reference int", _json(lambda c: {"reference": 5}), 400, "every reference must be a string"
    ),
    HttpCase(
        "reference null",
        _json(lambda c: {"reference": None}),
        400,
        "every reference must be a string",
    ),
    HttpCase(
        "references string",
        _json(lambda c: {"references": _ref(c, "corpus/victim:v1")}),
        400,
        "non-empty array",
    ),
    HttpCase(
        "references object", _json(lambda c: {"references": {"a": 1}}), 400, "non-empty array"
    ),
    HttpCase(
        "force int",
        _json(lambda c: {"reference": _ref(c, "corpus/victim:v1"), "force": 1}),
        400,
        '"force" must be true or false',
    ),
    HttpCase(
        "force null",
        _json(lambda c: {"reference": _ref(c, "corpus/victim:v1"), "force": None}),
        400,
        '"force" must be true or false',
    ),
    HttpCase(
        "expiry list",
        _json(lambda c: {"reference": _ref(c, "corpus/victim:v1"), "expiry": ["1h"]}),
        400,
        '"expiry" must be a duration',
    ),
    HttpCase(
        "metadata empty key",
        _json(lambda c: {"reference": _ref(c, "corpus/victim:v1"), "userMetadata": {"": "x"}}),
        400,
        "string values",
    ),
    HttpCase(
        "metadata 33 entries",
        _json(
            lambda c: {
                "reference": _ref(c, "corpus/victim:v1"),
                "userMetadata": {f"k{i}": "v" for i in range(33)},
            }
        ),
        400,
        "at most 32",
    ),
    HttpCase(
        "extra field registry",
        _json(lambda c: {"reference": _ref(c, "corpus/victim:v1"), "registry": "evil.azurecr.io"}),
        400,
        "unknown fields: registry",
    ),
    HttpCase(
        "field case variant",
        _json(lambda c: {"Reference": _ref(c, "corpus/victim:v1")}),
        400,
        "unknown fields: Reference",
    ),
    HttpCase("whitespace padded to 65 KiB", lambda c: b" " * 65_537 + b"{}", 400, "larger than"),
    HttpCase(
        "traversal",
        _json(lambda c: {"reference": _ref(c, "corpus/../victim:v1")}),
        400,
        "invalid repository name",
        "invalid_reference",
    ),
    HttpCase(
        "encoded traversal",
        _json(lambda c: {"reference": _ref(c, "%2e%2e/victim:v1")}),
        400,
        "invalid repository name",
        "invalid_reference",
    ),
    HttpCase(
        "control character",
        _json(lambda c: {"reference": _ref(c, "corpus/victim\u0007:v1")}),
        400,
        "printable ASCII",
        "invalid_reference",
    ),
    HttpCase(
        "newline",
        _json(lambda c: {"reference": _ref(c, "corpus/victim:v1\n")}),
        400,
        "printable ASCII",
        "invalid_reference",
    ),
    HttpCase(
        "look-alike",
        _json(lambda c: {"reference": _ref(c, "corpus/vi\u0441tim:v1")}),
        400,
        "printable ASCII",
        "invalid_reference",
    ),
    HttpCase(
        "other registry",
        _json(lambda c: {"reference": "evil.azurecr.io/corpus/victim:v1"}),
        400,
        "is not the one this signer serves",
        "wrong_registry",
    ),
    HttpCase(
        "bad digest",
        _json(lambda c: {"reference": _ref(c, "corpus/victim@sha256:abc")}),
        400,
        "invalid digest",
        "invalid_reference",
    ),
    HttpCase(
        "neither tag nor digest",
        _json(lambda c: {"reference": _ref(c, "corpus/victim")}),
        400,
        "names neither a tag nor a digest",
        "invalid_reference",
    ),
    HttpCase(
        "no registry (first component taken as one)",
        _json(lambda c: {"reference": "corpus/victim:v1"}),
        400,
        "registry 'corpus' is not the one",
        "wrong_registry",
    ),
    HttpCase(
        "no slash at all",
        _json(lambda c: {"reference": "victim:v1"}),
        400,
        "has no registry",
        "invalid_reference",
    ),
    HttpCase(
        "missing digest",
        _json(lambda c: {"reference": _ref(c, f"corpus/victim@{MISSING}")}),
        404,
        "not found",
        "not_found",
    ),
    HttpCase(
        "a layer blob's digest",
        _json(lambda c: {"reference": _ref(c, "corpus/victim@sha256:" + HEX)}),
        404,
        "not found",
        "not_found",
    ),
]


@pytest.mark.parametrize("case", HTTP_CASES, ids=lambda c: c.name)
def test_malformed_sign_request(app: SignerApp, victim: Victim, case: HttpCase) -> None:
    status, answer = app.http_sign(case.body(_ctx(app, victim)))

    assert status == case.status, answer
    if "error" in answer:
        assert answer["error"]["code"] == case.code
        assert case.message in answer["error"]["message"]
        assert len(answer["error"]["message"]) < 1200
    else:
        [result] = answer["results"]
        assert (result["status"], result["code"]) == ("failed", case.code)
        assert case.message in result["reason"]


STATUS_CASES = [
    ("whitespace", lambda c: "   ", 400, "has no registry"),
    ("control character", lambda c: _ref(c, "corpus/victim:v1\x1b[2J"), 400, "printable ASCII"),
    ("look-alike", lambda c: _ref(c, "corpus/vi\u0441tim:v1"), 400, "printable ASCII"),
    ("too long", lambda c: _ref(c, "corpus/victim:" + "v" * 2000), 400, "at most 1024"),
    ("bad digest", lambda c: _ref(c, "corpus/victim@sha256:zz"), 400, "invalid digest"),
    ("traversal", lambda c: _ref(c, "corpus/../../victim:v1"), 400, "invalid repository name"),
    (
        "other registry by tag",
        lambda c: "evil.azurecr.io/corpus/victim:v1",
        400,
        "registry 'evil.azurecr.io' is not the one",
    ),
    (
        "other registry by digest",
        lambda c: f"evil.azurecr.io/corpus/victim@{c.d1}",
        400,
        "registry 'evil.azurecr.io' is not the one",
    ),
]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [pytest.param(q, s, m, id=n) for n, q, s, m in STATUS_CASES],
)
def test_malformed_status_query(
    app: SignerApp, victim: Victim, query: Callable[[Ctx], str], status: int, message: str
) -> None:
    code, answer = app.http_status(query(_ctx(app, victim)))
    assert code == status, answer
    assert message in answer["error"]["message"]


def test_corpus_size() -> None:
    """The issue asks for at least 60 malformed events and HTTP requests."""
    assert len(EVENT_CASES) + 3 + 3 + len(HTTP_CASES) + len(STATUS_CASES) >= 60


def _descriptor(image: PushedImage) -> Descriptor:
    return Descriptor(image.media_type, image.digest, image.size)
