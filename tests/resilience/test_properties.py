"""Property-based tests of the event parser, the reference parser and the trigger handlers.

tests/unit checks that arbitrary input never crashes the parsers and that accepted text
round-trips. These go further: what is accepted is exactly what was given (no silent
normalisation), one corrupted field is always rejected with a message naming that field,
nothing accepted carries a control character, a non-ASCII character or a path segment
that is not a name, and the handlers answer every input (events, HTTP bodies, status
queries) with a Result or an HTTP status, never an exception other than a transient one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import strategies as st

from scripts.devcert import ensure_dev_certificate
from shared.handlers import Handlers
from shared.ledger import LOCK_PREFIX, Ledger
from shared.outcomes import NullPublisher
from shared.settings import Settings
from shared.tables import Operation, Table
from signer.errors import InvalidEventError, InvalidReferenceError, NotFoundError
from signer.events import CHART_PUSHED, IMAGE_PUSHED, parse_push_event
from signer.models import Descriptor
from signer.reference import Reference
from signer.registry import ReferrerList
from signer.service import SigningService
from signer.signers.local import LocalSigner
from tests.fuzzing import examples

HOST = "myregistry.azurecr.io"

# --- strategies ------------------------------------------------------------------------

component = st.from_regex(r"[a-z0-9]{1,8}(?:(?:\.|_|__|-{1,2})[a-z0-9]{1,8}){0,2}", fullmatch=True)
repositories = st.lists(component, min_size=1, max_size=4).map("/".join)
tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,40}", fullmatch=True)
hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
digests = hexes.map(lambda h: "sha256:" + h) | st.text(
    alphabet="0123456789abcdef", min_size=128, max_size=128
).map(lambda h: "sha512:" + h)
labels = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
hosts = st.builds(
    lambda parts, port: ".".join(parts) + (f":{port}" if port else ""),
    st.lists(labels, min_size=1, max_size=3),
    st.none() | st.integers(1, 65535),
)
event_ids = st.text(
    alphabet=st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=1, max_size=128
)

#: characters no field may carry: controls, whitespace, look-alikes, URL and path syntax
BAD_CHARS = [
    "\n", "\r", "\t", "\x00", "\x1b", "\x7f", " ", "\u00a0", "\u200b", "\u2028",
    "\u0430", "\u0435", "\uff0f", "\uff1a", "\u0661", "\u2024", "@", "#", "?", "%", "\\",
    '"', "'", "<", "`", "\ud800",
]  # fmt: skip
bad_chars = st.sampled_from(BAD_CHARS)


def _insert(value: str, char: str, at: int) -> str:
    at = at % (len(value) + 1)
    return value[:at] + char + value[at:]


def _event(repository: str, digest: str, tag: str | None, host: str) -> dict[str, Any]:
    target: dict[str, Any] = {"repository": repository, "digest": digest, "size": 1}
    if tag is not None:
        target["tag"] = tag
    return {"target": target, "request": {"host": host, "method": "PUT"}}


# --- the event parser --------------------------------------------------------------------


@given(repositories, digests, st.none() | tags, hosts, event_ids)
def test_valid_events_parse_to_exactly_what_they_say(
    repository: str, digest: str, tag: str | None, host: str, event_id: str
) -> None:
    assume(len(repository) <= 255)
    parsed = parse_push_event(event_id, IMAGE_PUSHED, _event(repository, digest, tag, host))
    assert (parsed.event_id, parsed.repository, parsed.digest, parsed.tag) == (
        event_id,
        repository,
        digest,
        tag,
    )
    assert parsed.registry == host.lower()


@given(
    repository=repositories,
    digest=digests,
    tag=tags,
    host=hosts,
    field=st.sampled_from(["repository", "digest", "tag", "host"]),
    char=bad_chars,
    at=st.integers(0, 300),
)
def test_one_corrupted_field_is_rejected_and_named(
    *, repository: str, digest: str, tag: str, host: str, field: str, char: str, at: int
) -> None:
    values = {"repository": repository, "digest": digest, "tag": tag, "host": host}
    values[field] = _insert(values[field], char, at)
    data = _event(values["repository"], values["digest"], values["tag"], values["host"])
    with pytest.raises(InvalidEventError) as raised:
        parse_push_event("id", IMAGE_PUSHED, data)
    named = {"host": "data.request.host", "digest": "digest", "tag": "tag"}
    assert named.get(field, "repository") in str(raised.value)


def _near_valid(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Valid values, valid values with a bad character appended or inserted, or any text."""
    return st.one_of(
        valid,
        st.builds(lambda v, c: v + c, valid, bad_chars),
        st.builds(_insert, valid, bad_chars, st.integers(0, 100)),
        st.text(max_size=40),
    )


@given(
    _near_valid(repositories),
    _near_valid(digests),
    st.none() | _near_valid(tags),
    _near_valid(hosts),
    st.sampled_from([IMAGE_PUSHED, CHART_PUSHED]),
)
def test_whatever_is_accepted_is_plain_ascii_names(
    repository: str, digest: str, tag: str | None, host: str, event_type: str
) -> None:
    try:
        parsed = parse_push_event("id", event_type, _event(repository, digest, tag, host))
    except InvalidEventError:
        return
    for value in (parsed.repository, parsed.digest, parsed.tag or "", parsed.registry or ""):
        assert value.isascii() and value.isprintable() and value == value.strip()
        assert not any(c in value for c in " @#?%\\\"'<`")
    segments = parsed.repository.split("/")
    assert all(s and s not in (".", "..") for s in segments)
    assert (parsed.repository, parsed.digest, parsed.tag) == (repository, digest, tag or None)


# --- the reference parser ------------------------------------------------------------------


@given(hosts, repositories, st.none() | tags, st.none() | digests)
def test_references_parse_to_their_parts(
    host: str, repository: str, tag: str | None, digest: str | None
) -> None:
    assume(tag is not None or digest is not None)
    assume(len(repository) <= 255)
    text = f"{host}/{repository}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        host.lower(),
        repository,
        tag,
        digest,
    )
    assert str(ref) == text.replace(host, host.lower(), 1)
    assert ref.target == (digest or tag)


@given(_near_valid(st.builds(lambda h, r, t: f"{h}/{r}:{t}", hosts, repositories, tags)))
def test_accepted_references_are_not_normalised(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReferenceError:
        return
    registry, _, rest = text.partition("/")
    assert str(ref) == f"{registry.lower()}/{rest}"  # nothing dropped, decoded or defaulted
    assert str(ref).isascii() and str(ref).isprintable()


@given(hosts, repositories, tags, bad_chars, st.integers(0, 300))
def test_a_bad_character_anywhere_is_rejected(
    host: str, repository: str, tag: str, char: str, at: int
) -> None:
    text = _insert(f"{host}/{repository}:{tag}", char, at)
    with pytest.raises(InvalidReferenceError):
        Reference.parse(text)


# --- the handlers: every input gets an answer -----------------------------------------------


class MemoryLedger(Ledger):
    """The real ledger's rows, journal and lock logic, kept in memory instead of a table."""

    def __init__(self) -> None:
        super().__init__(cast(Table, None))
        self.rows: list[dict[str, Any]] = []  # attempt rows (lock rows are not kept)

    def write(self, operations: list[Operation]) -> list[str | None]:
        for operation in operations:
            entity = dict(operation.entity)
            if str(entity["RowKey"]).startswith(LOCK_PREFIX):
                continue
            if operation.kind == "insert":
                self.rows.append(entity)
            elif operation.kind == "merge":
                for row in self.rows:
                    if row["RowKey"] == entity["RowKey"]:
                        row.update(entity)
        return ["*"] * len(operations)

    def history(
        self,
        digest: str,
        limit: int = 50,
        *,
        registry: str | None = None,
        repository: str | None = None,
    ) -> list[dict[str, Any]]:
        return []


class NothingThere:
    """A registry in which every lookup misses."""

    registry = HOST

    def resolve(self, repository: str, reference: str) -> Any:
        raise NotFoundError(f"manifest {repository}@{reference} not found")

    def fetch_manifest(self, repository: str, descriptor: Descriptor) -> bytes:
        raise AssertionError("never reached: nothing resolves")

    def list_referrers(self, repository: str, subject: Descriptor) -> ReferrerList:
        raise AssertionError("never reached: nothing resolves")

    def fetch_blob(self, repository: str, descriptor: Descriptor, max_size: int = 0) -> bytes:
        raise AssertionError("never reached: nothing resolves")

    def push_signature(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("never reached: nothing resolves")


@pytest.fixture(scope="module")
def handlers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Handlers, MemoryLedger]:
    dev: dict[str, Path] = ensure_dev_certificate(tmp_path_factory.mktemp("props-dev"))
    settings = Settings.from_env(
        {
            "SIGNER_REGISTRY": HOST,
            "SIGNER_LOCAL_KEY": str(dev["key"]),
            "SIGNER_LOCAL_CERT_CHAIN": str(dev["chain"]),
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "SIGNER_SIGN_UNTAGGED": "true",
        }
    )
    ledger = MemoryLedger()
    service = SigningService(
        registry=NothingThere(), signer=LocalSigner.from_files(dev["key"], dev["chain"])
    )
    return Handlers(
        settings=settings, service=service, ledger=ledger, publisher=NullPublisher()
    ), ledger


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=15,
)
event_types = (
    st.sampled_from([IMAGE_PUSHED, CHART_PUSHED, "Microsoft.ContainerRegistry.ImageDeleted"])
    | json_values
)
near_events = st.builds(
    _event, _near_valid(repositories), _near_valid(digests), st.none() | _near_valid(tags),
    st.sampled_from([HOST, "other.azurecr.io"]) | _near_valid(hosts),
)  # fmt: skip
quiet = examples(150, suppress_health_check=[HealthCheck.function_scoped_fixture])


@quiet
@given(json_values | event_ids, event_types, json_values | near_events)
def test_on_event_answers_every_input(
    handlers: tuple[Handlers, MemoryLedger], event_id: Any, event_type: Any, data: Any
) -> None:
    app, ledger = handlers
    before = len(ledger.rows)
    results = app.on_event(event_id, event_type, data)
    assert results and all(r.status in ("failed", "skipped", "ignored") for r in results)
    if results[0].status != "ignored":
        assert len(ledger.rows) == before + 1  # every non-ignored event leaves a row
        row = ledger.rows[-1]
        assert row["status"] == results[0].status
        assert str(row["PartitionKey"]).isprintable()  # a legal Table key, whatever came in


request_docs = st.fixed_dictionaries(
    {},
    optional={
        "reference": json_values | _near_valid(st.just(f"{HOST}/app:v1")),
        "references": st.lists(json_values | _near_valid(st.just(f"{HOST}/app:v1")), max_size=3),
        "force": json_values,
        "expiry": json_values | st.sampled_from(["1h", "-1h", "0s", "99999999999d", "1x"]),
        "userMetadata": json_values,
        "extra": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=200),
    request_docs.map(lambda d: json.dumps(d).encode()),
    st.integers(1, 30_000).map(lambda n: b'{"reference":' + b"[" * n + b"]" * n + b"}"),
)


@quiet
@given(bodies)
def test_sign_request_answers_every_body(
    handlers: tuple[Handlers, MemoryLedger], body: bytes
) -> None:
    status, answer = handlers[0].on_sign_request(body, "corr")
    assert status in (200, 207, 400, 404, 422)
    json.dumps(answer)  # a JSON answer, whatever came in
    if status == 400 and "error" in answer:
        assert answer["error"]["message"]


@quiet
@given(st.none() | st.text(max_size=300) | _near_valid(st.just(f"{HOST}/app:v1")))
def test_status_answers_every_query(
    handlers: tuple[Handlers, MemoryLedger], query: str | None
) -> None:
    status, answer = handlers[0].on_status(query)
    assert status in (200, 400, 404)
    json.dumps(answer)
