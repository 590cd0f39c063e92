"""scripts/replay_dead_letters.py against real parts: Azurite holds dead-letter blobs in
Event Grid's format, and a loopback HTTP server hands POST /api/sign to the real app's
handler (``handlers.on_sign_request``) signing in Debian's docker-registry.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from scripts import replay_dead_letters as replay
from scripts.sample_events import push_event
from shared.handlers import MAX_BATCH
from signer.errors import ConfigurationError
from tests.plugins.app import SignerApp
from tests.servers.loopback import BackgroundServer, FaultyHandler, LoopbackHTTPServer

MakeApp = Callable[..., SignerApp]
KEY = "test-function-key-" + uuid.uuid4().hex
SUBSCRIPTION = "NOTARY-SIGNER-ABC123"


# ---------------------------------------------------------------------------------
# A loopback POST /api/sign in front of the real handler
# ---------------------------------------------------------------------------------


@dataclass
class SignServer(BackgroundServer):
    app: SignerApp
    thread_name: str = "sign-api"
    bodies: list[dict[str, Any]] = field(default_factory=list)
    answer_first: list[int] = field(default_factory=list)  # statuses to answer before the app

    def make_server(self) -> LoopbackHTTPServer:
        server = self

        class Handler(FaultyHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path != "/api/sign":
                    return self._send(404, {})
                if self.headers.get("x-functions-key") != KEY:  # as the host's key check
                    return self._send(401, {})
                server.bodies.append(json.loads(body))
                if server.answer_first:
                    return self._send(server.answer_first.pop(0), {"error": {"message": "busy"}})
                status, answer = server.app.handlers.on_sign_request(body, str(uuid.uuid4()))
                return self._send(status, answer)

            def _send(self, status: int, answer: dict[str, Any]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return LoopbackHTTPServer(Handler, quiet=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/sign"


@pytest.fixture
def app(make_app: MakeApp) -> SignerApp:
    return make_app()


@pytest.fixture
def api(app: SignerApp) -> Iterator[SignServer]:
    with SignServer(app) as server:
        yield server


@pytest.fixture
def container(azurite_connection_string: str) -> Iterator[Any]:
    service = BlobServiceClient.from_connection_string(azurite_connection_string)
    client = service.get_container_client(f"dl-{uuid.uuid4().hex[:20]}")
    client.create_container()
    yield client
    client.delete_container()


@pytest.fixture
def source(container: Any) -> replay.ContainerSource:
    return replay.ContainerSource(container)


def _dead_letter(event: dict[str, Any], *, cloudevents: bool = False) -> dict[str, Any]:
    """An event as Event Grid dead-letters it: the original plus its delivery record."""
    if cloudevents:
        return {
            **event,
            "deadletterreason": "MaxDeliveryAttemptsExceeded",
            "deliveryattempts": 30,
            "lastdeliveryoutcome": "Probation",
            "publishtime": "2026-08-21T14:00:00.0000000Z",
        }
    return {
        **event,
        "deadLetterReason": "MaxDeliveryAttemptsExceeded",
        "deliveryAttempts": 30,
        "lastDeliveryOutcome": "Probation",
        "lastHttpStatusCode": 503,
        "publishTime": "2026-08-21T14:00:00.0000000Z",
        "lastDeliveryAttemptTime": "2026-08-22T13:59:00.0000000Z",
    }


def _put(container: Any, content: Any, *, hour: int = 14, subscription: str = SUBSCRIPTION) -> str:
    name = f"{subscription}/2026/8/22/{hour}/{uuid.uuid4()}.json"
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    container.upload_blob(name, data)
    return name


@dataclass
class Pushed:
    repository: str
    digests: list[str]


def _push(app: SignerApp, repository: str, count: int) -> Pushed:
    digests = [app.pusher.push_image(repository, f"v{i}").digest for i in range(count)]
    return Pushed(repository, digests)


def _event(app: SignerApp, repository: str, digest: str, **kw: Any) -> dict[str, Any]:
    return _dead_letter(push_event(app.registry_host, repository, digest, **kw))


def _ref(app: SignerApp, repository: str, digest: str) -> str:
    return f"{app.registry_host}/{repository}@{digest}"


# ---------------------------------------------------------------------------------
# Replaying
# ---------------------------------------------------------------------------------


def test_replays_real_dead_letters_and_reports_the_rest(
    app: SignerApp,
    api: SignServer,
    container: Any,
    source: replay.ContainerSource,
    repository_name: str,
) -> None:
    images = _push(app, repository_name, 3)
    a, b, c = images.digests
    good_1 = _put(container, [_event(app, repository_name, a), _event(app, repository_name, b)])
    good_2 = _put(
        container,
        [
            _dead_letter(
                push_event(app.registry_host, repository_name, c, cloudevents=True),
                cloudevents=True,
            ),
            _event(app, repository_name, a),
        ],
        hour=15,
    )  # a again: sent once
    not_json = _put(container, b"\x00\x01 not json")
    not_array = _put(container, _event(app, repository_name, a))
    broken = _event(app, repository_name, a)
    broken["data"] = {"target": {"repository": repository_name}}  # no digest
    other = _dead_letter(push_event("other.azurecr.io", repository_name, a))
    deleted = _event(app, repository_name, a, event_type="Microsoft.ContainerRegistry.ImageDeleted")
    mixed = _put(container, [broken, other, deleted, "not an object"])

    client = replay.SignClient(api.endpoint, KEY, sleep=lambda _: None)
    report = replay.replay(source, client, app.registry_host)

    assert {o.reference: o.status for o in report.outcomes} == {
        _ref(app, repository_name, d): "signed" for d in (a, b, c)
    }
    assert sum(len(body["references"]) for body in api.bodies) == 3
    assert all("force" not in body for body in api.bodies), "never force: replays stay idempotent"
    expected = [
        (not_json, "not JSON", True),
        (not_array, "not an array of events", True),
        (mixed, "invalid event: event data.target.digest is missing", True),
        (mixed, f"for registry 'other.azurecr.io', not {app.registry_host!r}", False),
        (mixed, "not a push event ('Microsoft.ContainerRegistry.ImageDeleted')", False),
        (mixed, "event is not a JSON object", True),
    ]
    found = [(s.blob, s.reason, s.unreadable) for s in report.skipped]
    assert sorted(found) == sorted(expected)
    assert report.failed, "unreadable blobs need an operator's look"
    outcome_a = next(o for o in report.outcomes if o.reference.endswith(a))
    assert outcome_a.blobs == sorted([good_1, good_2])
    for digest in (a, b, c):
        assert app.verify(repository_name, digest).verified


def test_a_second_run_skips_and_may_delete(
    app: SignerApp,
    api: SignServer,
    container: Any,
    source: replay.ContainerSource,
    repository_name: str,
) -> None:
    (digest,) = _push(app, repository_name, 1).digests
    done = _put(container, [_event(app, repository_name, digest)])
    kept = _put(
        container,
        [
            _event(app, repository_name, digest),
            _dead_letter(push_event("other.azurecr.io", repository_name, digest)),
        ],
    )
    client = replay.SignClient(api.endpoint, KEY, sleep=lambda _: None)
    first = replay.replay(source, client, app.registry_host)
    assert [o.status for o in first.outcomes] == ["signed"]
    second = replay.replay(source, client, app.registry_host, delete_replayed=True)
    assert [(o.status, o.code) for o in second.outcomes] == [("skipped", "already_signed")]
    assert second.deleted == [done], "only blobs holding nothing but replayed pushes go"
    assert set(container.list_blob_names()) == {kept}
    assert (
        len(app.signatures(repository_name, digest, *_size_and_type(app, repository_name, digest)))
        == 1
    )


def _size_and_type(app: SignerApp, repository: str, digest: str) -> tuple[int, str]:
    with app.client() as client:
        descriptor = client.resolve(repository, digest).descriptor
    return descriptor.size, descriptor.media_type


def test_batches_of_at_most_the_api_limit(
    app: SignerApp,
    api: SignServer,
    container: Any,
    source: replay.ContainerSource,
    repository_name: str,
) -> None:
    digests = _push(app, repository_name, 5).digests
    _put(container, [_event(app, repository_name, d) for d in digests])
    client = replay.SignClient(api.endpoint, KEY, sleep=lambda _: None)
    report = replay.replay(source, client, app.registry_host, batch_size=2)
    assert [len(body["references"]) for body in api.bodies] == [2, 2, 1]
    assert {o.status for o in report.outcomes} == {"signed"}
    assert replay.MAX_BATCH == MAX_BATCH
    with pytest.raises(ConfigurationError, match="1 to 100"):
        replay.replay(source, client, app.registry_host, batch_size=MAX_BATCH + 1)


def test_transient_answers_are_retried(
    app: SignerApp,
    api: SignServer,
    container: Any,
    source: replay.ContainerSource,
    repository_name: str,
) -> None:
    (digest,) = _push(app, repository_name, 1).digests
    _put(container, [_event(app, repository_name, digest)])
    api.answer_first = [503, 502]
    waits: list[float] = []
    report = replay.replay(
        source, replay.SignClient(api.endpoint, KEY, sleep=waits.append), app.registry_host
    )
    assert [o.status for o in report.outcomes] == ["signed"]
    assert waits == [2.0, 4.0] and len(api.bodies) == 3


def test_only_under_the_prefix(
    app: SignerApp,
    api: SignServer,
    container: Any,
    source: replay.ContainerSource,
    repository_name: str,
) -> None:
    first, second = _push(app, repository_name, 2).digests
    _put(container, [_event(app, repository_name, first)])
    _put(container, [_event(app, repository_name, second)], subscription="NOTARY-SIGNER-OTHER")
    report = replay.replay(source, None, app.registry_host, prefix=f"{SUBSCRIPTION}/")
    assert [(o.reference, o.status) for o in report.outcomes] == [
        (_ref(app, repository_name, first), "not sent (dry run)")
    ]
    assert not api.bodies, "a dry run sends nothing"


# ---------------------------------------------------------------------------------
# The key, the endpoint, the command line
# ---------------------------------------------------------------------------------


def test_a_refused_key_stops_the_run(api: SignServer) -> None:
    client = replay.SignClient(api.endpoint, "wrong-key", sleep=lambda _: None)
    with pytest.raises(ConfigurationError, match="refused the function key"):
        client.sign(["example.azurecr.io/a@sha256:" + "0" * 64])


@pytest.mark.parametrize("endpoint", ["http://signer.example/api/sign", "ftp://127.0.0.1/api/sign"])
def test_the_key_only_travels_over_https(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="must be https"):
        replay.SignClient(endpoint, KEY)


def _main(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = replay.main(list(args))
    return code, out.getvalue() + err.getvalue()


@pytest.fixture
def cli_env(azurite_connection_string: str, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment the command line reads: the storage connection string, for Azurite."""
    monkeypatch.setenv("TEST_DEAD_LETTERS", azurite_connection_string)
    return monkeypatch


def test_command_line_end_to_end(
    app: SignerApp,
    api: SignServer,
    container: Any,
    cli_env: pytest.MonkeyPatch,
    repository_name: str,
) -> None:
    (digest,) = _push(app, repository_name, 1).digests
    _put(container, [_event(app, repository_name, digest)])
    common = [
        "--connection-string-env",
        "TEST_DEAD_LETTERS",
        "--container",
        container.container_name,
        "--registry",
        app.registry_host,
        "--sign-endpoint",
        api.endpoint,
        "--function-key-env",
        "TEST_FUNCTION_KEY",
    ]

    code, output = _main(*common)
    assert code == 2 and "set TEST_FUNCTION_KEY to a function key" in output

    cli_env.setenv("TEST_FUNCTION_KEY", KEY)
    code, output = _main(*common, "--json")
    assert code == 0, output
    assert json.loads(output)["results"][0]["status"] == "signed"
    assert KEY not in output, "the function key is never printed"

    _put(container, b"garbage")
    code, output = _main(*common)
    assert code == 1 and "UNREADABLE" in output and "skipped " in output
    assert KEY not in output
