"""The audit ledger and the subject lock folded into it, against a real Azurite table service."""

from __future__ import annotations

import multiprocessing
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scripts.sample_events import push_event
from shared import ledger as ledger_module
from shared.ledger import (
    REASON_LIMIT,
    TRUNCATED,
    Ledger,
    LockTimeoutError,
    Origin,
    lock_row_key,
    partition_key,
)
from shared.tables import StorageUnavailableError, Table, TableService, parse_connection_string
from signer.errors import TransientError
from signer.journal import LockLostError
from signer.models import Descriptor, Failed, Signed, SignRequest, Skipped
from tests.plugins.app import SignerApp
from tests.plugins.azurite import ACCOUNT_KEY, StorageNames
from tests.servers.fault_proxy import FaultProxy

pytestmark = pytest.mark.azurite

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
REQUEST = SignRequest("example.azurecr.io", "team/app", DIGEST, tag="v1")
SUBJECT = Descriptor("application/vnd.oci.image.manifest.v1+json", DIGEST, 123)
ORIGIN = Origin("evt-1", "corr-1")


def _table(connection_string: str, name: str) -> Table:
    endpoint, auth = parse_connection_string(connection_string)
    return TableService(endpoint, auth).table(name)


@pytest.fixture
def table(azurite_connection_string: str, storage_names: StorageNames) -> Table:
    return _table(azurite_connection_string, storage_names.table)  # not created yet


def _fast(table: Table, **options: Any) -> Ledger:
    settings = {"poll_interval": 0.02, "max_poll_interval": 0.1, "key_id": "kv/keys/signer"}
    return Ledger(table, **{**settings, **options})


@pytest.fixture
def ledger(table: Table) -> Ledger:
    return _fast(table)


def _signed(key_id: str = "https://kv.vault.azure.net/keys/signer/0123abcd") -> Signed:
    signature = Descriptor("application/vnd.oci.image.manifest.v1+json", OTHER, 456)
    return Signed(SUBJECT, signature, ("ff" * 32, "ee" * 32), True, key_id)


# --- rows -----------------------------------------------------------------------------------


def test_an_attempt_writes_signing_then_its_outcome_on_the_same_row(ledger: Ledger) -> None:
    attempt = ledger.journal(ORIGIN).started(REQUEST, DIGEST)
    [row] = ledger.history(DIGEST)
    assert row["status"] == "signing"
    assert row["attemptId"] == attempt.attempt_id
    assert "finishedAt" not in row

    attempt.finish(_signed())
    [row] = ledger.history(DIGEST)
    assert row == {
        "attemptId": attempt.attempt_id,
        "digest": DIGEST,
        "status": "signed",
        "registry": "example.azurecr.io",
        "repository": "team/app",
        "tag": "v1",
        "keyId": "kv/keys/signer",
        "keyVersion": "0123abcd",
        "eventId": "evt-1",
        "correlationId": "corr-1",
        "signatureDigest": OTHER,
        "certificateThumbprint": "ff" * 32,
        "startedAt": row["startedAt"],
        "finishedAt": row["finishedAt"],
    }
    started = datetime.fromisoformat(row["startedAt"])
    finished = datetime.fromisoformat(row["finishedAt"])
    assert started.tzinfo is not None and started <= finished
    assert abs(datetime.now(UTC) - finished) < timedelta(minutes=1)
    assert ledger.latest_status(DIGEST) == "signed"


def test_history_is_newest_first_per_digest_limited_and_without_lock_rows(ledger: Ledger) -> None:
    journal = ledger.journal(ORIGIN)
    ledger.record("skipped", digest=DIGEST, reason="first")
    ledger.record("failed", digest=OTHER, reason="another digest")
    journal.started(REQUEST, DIGEST).finish(Failed(SUBJECT, "registry", "second"))
    journal.record(REQUEST, Skipped(SUBJECT, "already_signed", "third"))
    journal.started(REQUEST, DIGEST)  # fourth, still running: its lock row is in the partition

    history = ledger.history(DIGEST)
    assert [r.get("reason", "") for r in history] == ["", "third", "second", "first"]
    assert [r["status"] for r in history] == ["signing", "skipped", "failed", "skipped"]
    assert history[1]["code"] == "already_signed" and history[2]["code"] == "registry"
    assert len({r["attemptId"] for r in history}) == 4
    assert [r["reason"] for r in ledger.history(DIGEST, limit=2)[1:]] == ["third"]
    assert ledger.latest_status(DIGEST) == "signing"
    assert ledger.latest_status(OTHER) == "failed"


def test_history_of_one_artifact_leaves_out_its_copies_elsewhere(ledger: Ledger) -> None:
    journal = ledger.journal(ORIGIN)
    journal.record(REQUEST, Skipped(SUBJECT, "already_signed", "in team/app"))
    elsewhere = SignRequest("example.azurecr.io", "team/copy", DIGEST, tag="v1")
    journal.record(elsewhere, Skipped(SUBJECT, "already_signed", "in team/copy"))
    mine = ledger.history(DIGEST, registry="example.azurecr.io", repository="team/app")
    assert [r["reason"] for r in mine] == ["in team/app"]
    assert ledger.history(DIGEST, registry="other.azurecr.io", repository="team/app") == []


def test_ordering_follows_time_not_write_order(table: Table) -> None:
    """RowKeys are inverted time: a later attempt sorts first even across many years."""
    times = iter(
        [
            datetime(2030, 1, 1, tzinfo=UTC),
            datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC),
            datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=UTC),
            datetime(2024, 5, 1, 12, 0, 0, 0, tzinfo=UTC),
        ]
    )
    ledger = Ledger(table, clock=lambda: next(times))
    for reason in ("2030", "2001", "2024b", "2024a"):
        ledger.record("failed", digest=DIGEST, reason=reason)
    assert [r["reason"] for r in ledger.history(DIGEST)] == ["2030", "2024b", "2024a", "2001"]
    assert ledger.history(DIGEST)[0]["startedAt"] == "2030-01-01T00:00:00Z"


def test_unknown_digest_and_missing_table(ledger: Ledger) -> None:
    assert ledger.history(DIGEST) == []  # the table does not exist yet
    assert ledger.latest_status(DIGEST) is None
    ledger.record("skipped", digest=OTHER, reason="creates the table")
    assert ledger.history(DIGEST) == []
    assert ledger.history(OTHER, limit=0) == []


def test_the_first_attempt_creates_the_table(ledger: Ledger) -> None:
    ledger.journal(ORIGIN).started(REQUEST, DIGEST).finish(_signed())
    assert ledger.latest_status(DIGEST) == "signed"


def test_reasons_are_sanitised_and_truncated(ledger: Ledger) -> None:
    reason = "line one\nline\ttwo\x00\x1b[31m \ud800 ✓ 🔏 " + "x" * 100_000
    ledger.record("failed", digest=DIGEST, reason=reason, repository="r" * 5000)
    [row] = ledger.history(DIGEST)
    stored = row["reason"]
    assert len(stored) == REASON_LIMIT and stored.endswith(TRUNCATED)
    assert stored.startswith("line one\nline\ttwo  [31m ? ✓ 🔏 xxx")
    assert len(row["repository"]) == 1024 and row["repository"].endswith(TRUNCATED)


@pytest.mark.parametrize(
    "digest",
    [
        "unresolved",
        "invalid-event",
        "a/b\\c#d?e\x01f:g",
        "x' or PartitionKey ne 'y",  # would widen the query if it were pasted into the filter
        "sha512:" + "0f" * 64,
        "ünïcødé:✓",
    ],
)
def test_special_characters_in_keys(ledger: Ledger, digest: str) -> None:
    ledger.record("failed", digest=OTHER, reason="must not show up")
    ledger.record("failed", digest=digest, reason="mine", tag='it\'s "quoted" & <odd>')
    history = ledger.history(digest)
    assert [(r["reason"], r["tag"]) for r in history] == [("mine", 'it\'s "quoted" & <odd>')]
    assert not any(c in partition_key(digest) for c in "/\\#?\x01")


def test_partition_key_of_a_digest() -> None:
    assert partition_key(DIGEST) == "sha256-" + "ab" * 32
    assert partition_key("") == "unknown"


def test_statuses_are_checked(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="not one of"):
        ledger.record("done", digest=DIGEST)


def test_storage_errors_are_transient_and_name_no_secret() -> None:
    closed = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={ACCOUNT_KEY};TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    endpoint, auth = parse_connection_string(closed)
    ledger = Ledger(TableService(endpoint, auth, retries=0).table("nowhere"))
    with pytest.raises(TransientError) as caught:
        ledger.journal(ORIGIN).started(REQUEST, DIGEST)
    assert isinstance(caught.value, StorageUnavailableError)
    assert "write signing ledger" in str(caught.value)
    assert ACCOUNT_KEY not in str(caught.value) and "127.0.0.1" not in str(caught.value)
    with pytest.raises(StorageUnavailableError):
        ledger.history(DIGEST)


@pytest.fixture
def proxied(
    azurite_connection_string: str, storage_names: StorageNames
) -> Iterator[tuple[Ledger, FaultProxy, Table]]:
    """A ledger whose table endpoint is a fault proxy in front of Azurite's."""
    endpoint = re.search(r"TableEndpoint=(http://[^/;]+)", azurite_connection_string)
    assert endpoint is not None
    with FaultProxy(endpoint.group(1)) as proxy:
        through = re.sub(
            r"TableEndpoint=http://[^/;]+", f"TableEndpoint={proxy.url}", azurite_connection_string
        )
        direct = _table(azurite_connection_string, storage_names.table)
        yield _fast(_table(through, storage_names.table)), proxy, direct


def test_a_signature_costs_two_storage_calls(proxied: tuple[Ledger, FaultProxy, Table]) -> None:
    ledger, proxy, _ = proxied
    ledger.record("skipped", digest=OTHER)  # the table exists
    proxy.clear_seen()

    attempt = ledger.journal(ORIGIN).started(REQUEST, DIGEST)
    attempt.ensure_held()  # fresh: no call
    attempt.finish(_signed())

    assert [(s.method, s.path.split("?")[0]) for s in proxy.seen] == [
        ("POST", "/devstoreaccount1/$batch"),
        ("POST", "/devstoreaccount1/$batch"),
    ]


@pytest.mark.parametrize("which", [0, 1])
def test_a_connection_lost_mid_transaction_is_sent_once_more(
    proxied: tuple[Ledger, FaultProxy, Table], which: int
) -> None:
    """``after_forward``: the write reached the table and only the answer was lost, the case
    where repeating must not break (the start then meets its own rows, the finish its own
    release)."""
    ledger, proxy, direct = proxied
    ledger.record("skipped", digest=OTHER)
    attempt = None
    if which == 1:
        attempt = ledger.journal(ORIGIN).started(REQUEST, DIGEST)
    proxy.reset(method="POST", path=r"/\$batch", after_forward=True)

    attempt = attempt or ledger.journal(ORIGIN).started(REQUEST, DIGEST)
    attempt.finish(_signed())

    assert proxy.count(outcome="reset") == 1
    rows = list(direct.query(f"PartitionKey eq '{partition_key(DIGEST)}'"))
    assert [(r["status"], r["signatureDigest"]) for r in rows] == [("signed", OTHER)]  # no lock


# --- the lock -------------------------------------------------------------------------------


def _counting(ledger: Ledger, trace: list[str], name: str, rounds: int) -> None:
    for _ in range(rounds):
        attempt = ledger.journal(ORIGIN).started(REQUEST, DIGEST)
        trace.append(f"enter {name}")
        time.sleep(0.02)
        trace.append(f"exit {name}")
        attempt.finish(Skipped(SUBJECT, "already_signed", name))


def _assert_no_interleaving(trace: list[str]) -> None:
    for enter, leave in zip(trace[::2], trace[1::2], strict=True):
        assert enter.startswith("enter ") and leave == "exit " + enter.removeprefix("enter ")


def test_threads_are_mutually_exclusive(table: Table) -> None:
    """Also races eight first users to create the table."""
    ledger = _fast(table)
    trace: list[str] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            _counting(ledger, trace, name, 3)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not errors, errors
    assert len(trace) == 48
    _assert_no_interleaving(trace)
    assert len(ledger.history(DIGEST, limit=100)) == 24


def test_without_the_lock_the_same_workload_interleaves() -> None:
    """The check above can fail: unlocked, the trace interleaves."""
    trace: list[str] = []

    def work(name: str) -> None:
        for _ in range(3):
            trace.append(f"enter {name}")
            time.sleep(0.02)
            trace.append(f"exit {name}")

    workers = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    with pytest.raises(AssertionError):
        _assert_no_interleaving(trace)


def _process_worker(connection_string: str, table_name: str, name: str, path: str) -> None:
    ledger = _fast(_table(connection_string, table_name))
    for _ in range(6):
        attempt = ledger.journal(ORIGIN).started(REQUEST, DIGEST)
        with open(path, "a") as log:
            log.write(f"enter {name}\n")
            log.flush()
            time.sleep(0.02)
            log.write(f"exit {name}\n")
        attempt.finish(Skipped(SUBJECT, "already_signed", name))


def test_processes_are_mutually_exclusive(
    table: Table, azurite_connection_string: str, storage_names: StorageNames, tmp_path: Path
) -> None:
    table.create()
    path = str(tmp_path / "trace")
    spawn = multiprocessing.get_context("spawn")
    args = (azurite_connection_string, storage_names.table)
    procs = [spawn.Process(target=_process_worker, args=(*args, f"p{i}", path)) for i in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    trace = Path(path).read_text().splitlines()
    assert len(trace) == 24 and {line.split()[1] for line in trace} == {"p0", "p1"}
    _assert_no_interleaving(trace)


def test_waits_and_acquires_after_finish(ledger: Ledger) -> None:
    first = ledger.journal(ORIGIN).started(REQUEST, DIGEST)
    threading.Timer(0.3, lambda: first.finish(Skipped(SUBJECT, "already_signed", "x"))).start()
    started = time.monotonic()
    ledger.journal(ORIGIN).started(REQUEST, DIGEST).finish(_signed())
    assert time.monotonic() - started >= 0.25


def test_another_repository_is_another_lock(ledger: Ledger) -> None:
    ledger.journal(ORIGIN).started(REQUEST, DIGEST)
    elsewhere = SignRequest("example.azurecr.io", "team/copy", DIGEST, tag="v1")
    started = time.monotonic()
    ledger.journal(ORIGIN).started(elsewhere, DIGEST).finish(_signed())
    assert time.monotonic() - started < 1.0
    assert lock_row_key("example.azurecr.io", "team/app") != lock_row_key(
        "example.azurecr.io", "team/copy"
    )


def test_waiting_too_long_is_transient(table: Table) -> None:
    ledger = _fast(table, wait_seconds=0.3)
    ledger.journal(ORIGIN).started(REQUEST, DIGEST)  # held, never finished
    with pytest.raises(LockTimeoutError, match="still held by another worker") as raised:
        ledger.journal(ORIGIN).started(REQUEST, DIGEST)
    assert isinstance(raised.value, TransientError)
    assert [r["status"] for r in ledger.history(DIGEST)] == ["signing"]  # the caller records


def test_a_delivery_that_waits_too_long_is_recorded_once_and_redelivered(
    make_app: Callable[..., SignerApp], repository_name: str
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    request = SignRequest(app.registry_host, repository_name, image.digest, tag="v1")
    app.handlers.ledger.journal(ORIGIN).started(request, image.digest)  # a stuck holder
    app.handlers.ledger.wait_seconds = 0.3
    with pytest.raises(LockTimeoutError):
        app.deliver(push_event(app.registry_host, repository_name, image.digest, size=image.size))
    rows = app.history(image.digest)
    assert [(r["status"], r.get("code")) for r in rows] == [
        ("failed", "lock_timeout"),
        ("signing", None),
    ]


def _later(seconds: float) -> Any:
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


def test_an_abandoned_lock_is_taken_over(table: Table) -> None:
    crashed = _fast(table)
    crashed.journal(ORIGIN).started(REQUEST, DIGEST)  # the worker died holding it
    later = _fast(table, clock=_later(70))  # past its 60 s, seen by a worker after that
    later.journal(ORIGIN).started(REQUEST, DIGEST).finish(_signed())
    assert later.latest_status(DIGEST) == "signed"


class _Paused:
    """The ledger module's clock after a pause of ``seconds``: what a frozen VM sees."""

    def __init__(self, seconds: float) -> None:
        self.offset = seconds

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def test_a_paused_holder_renews_when_nobody_took_its_lock(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempt = ledger.journal(ORIGIN).started(REQUEST, DIGEST)
    monkeypatch.setattr(ledger_module, "time", _Paused(70))
    attempt.ensure_held()  # renewed: the ETag shows nobody else changed the lock
    attempt.ensure_held()  # and now fresh again
    attempt.finish(_signed())
    assert ledger.latest_status(DIGEST) == "signed"


def test_a_paused_holder_whose_lock_was_taken_writes_nothing(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    paused = _fast(table)
    attempt = paused.journal(ORIGIN).started(REQUEST, DIGEST)
    other = _fast(table, clock=_later(70))
    taken = other.journal(ORIGIN).started(REQUEST, DIGEST)  # while the first was frozen
    monkeypatch.setattr(ledger_module, "time", _Paused(70))

    with pytest.raises(LockLostError, match="nothing is written"):
        attempt.ensure_held()

    attempt.finish(Failed(SUBJECT, "lock_lost", "lost", True))  # the row completes anyway
    taken.finish(_signed())
    statuses = sorted(r["status"] for r in paused.history(DIGEST))
    assert statuses == ["failed", "signed"]
