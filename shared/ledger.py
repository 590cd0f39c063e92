"""The audit ledger, and the subject lock folded into it: one Azure Table, two calls a signature.

Rows: PartitionKey is the subject digest with ':' as '-' (``sha256-<hex>``), so one
digest's history is a single-partition query. An attempt's RowKey is
``<inverted microseconds since the epoch, 16 digits>-<uuid4 hex>``: unique without
coordination, and the service's ascending RowKey order is newest first.

The lock: a row ``lock-<hash of registry/repository>`` in the same partition. An attempt
starts with ONE entity group transaction that inserts its ``signing`` row and the lock
row together, so a second worker's insert fails (409) and nothing of it is written; it
waits, or takes over a lock whose holder's ``expiresAt`` passed (a crashed worker), with
an ETag-conditional update. The attempt ends with ONE transaction that completes its row
and deletes the lock row (If-Match its ETag). Before each write that others can see the
service asks ``ensure_held()``: the lock is trusted for ``lock_seconds - fence_margin``
after it was taken (by the monotonic and the wall clock, so a frozen VM cannot outlive
it), renewed with a conditional update when a write comes later than that, and never
written through once another holder has it (fencing).

What used to be five Storage calls per signature (ledger insert, lease blob create,
acquire, release, ledger merge) is two. A storage failure is a ``TransientError``: the
event is redelivered rather than signed without a record or a lock. Values are
sanitised (no control characters or lone surrogates) and truncated under the service's
limits; reasons come from error messages.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.tables import Operation, StorageUnavailableError, Table, TableError
from signer.errors import TransientError
from signer.journal import LockLostError
from signer.models import Failed, Outcome, Signed, SignRequest, Skipped

log = logging.getLogger("signer.ledger")

STATUSES = frozenset({"signing", "signed", "skipped", "failed"})
REASON_LIMIT = 8000
FIELD_LIMIT = 1024
PARTITION_KEY_LIMIT = 512  # the service allows 1 KiB
TRUNCATED = "…[truncated]"
LOCK_PREFIX = "lock-"
_EPOCH_MICROS_MAX = 10**16 - 1  # inverted-time RowKeys stay 16 digits until the year 2286
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_KEY_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
#: another worker's lock counts as abandoned only this long after its own expiry, for clocks
#: that disagree by a little
CLOCK_SKEW = timedelta(seconds=5)


class LockTimeoutError(TransientError):
    """Another holder kept the subject's lock for longer than we were willing to wait."""

    code = "lock_timeout"


def partition_key(digest: str) -> str:
    """``sha256:<hex>`` -> ``sha256-<hex>``; any other text made into a legal Table key."""
    key = _KEY_FORBIDDEN.sub("_", clean(digest, PARTITION_KEY_LIMIT).replace(":", "-"))
    return key or "unknown"


def lock_row_key(registry: str, repository: str) -> str:
    """One lock per subject: the digest is the partition, the repository picks the row."""
    return LOCK_PREFIX + hashlib.sha256(f"{registry}/{repository}".encode()).hexdigest()[:40]


def clean(value: object, limit: int = FIELD_LIMIT) -> str:
    """Printable text (tabs and newlines kept), cut to ``limit`` characters with a marker."""
    text = str(value).encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> '?'
    text = _CONTROL.sub(" ", text)
    if len(text) > limit:
        text = text[: limit - len(TRUNCATED)] + TRUNCATED
    return text


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _row_key(now: datetime) -> str:
    micros = int(now.timestamp() * 1_000_000)
    return f"{_EPOCH_MICROS_MAX - micros:016d}-{uuid.uuid4().hex}"


def _check_status(status: str) -> str:
    if status not in STATUSES:
        raise ValueError(f"ledger status {status!r} is not one of {sorted(STATUSES)}")
    return status


def _fields(**values: str | None) -> dict[str, str]:
    """Non-empty values, cleaned; ``reason`` may be longer than the other fields."""
    return {
        name: clean(value, REASON_LIMIT if name == "reason" else FIELD_LIMIT)
        for name, value in values.items()
        if value
    }


def outcome_fields(outcome: Outcome) -> dict[str, str]:
    """The columns an outcome fills in (status, reason, signature, key version, thumbprint,
    the timestamp's time and TSA)."""
    if isinstance(outcome, Signed):
        version = outcome.key_id.rstrip("/").rsplit("/", 1)[-1] if "/" in outcome.key_id else ""
        stamp = outcome.timestamp
        return _fields(
            status="signed",
            signatureDigest=outcome.signature.digest,
            certificateThumbprint=outcome.certificate_thumbprints[0],
            keyVersion=version,
            timestampTime=stamp.time_text if stamp else None,
            timestampAuthority=stamp.authority if stamp else None,
        )
    if isinstance(outcome, Skipped):
        return _fields(status="skipped", reason=outcome.detail, code=outcome.reason)
    assert isinstance(outcome, Failed)
    reason = (
        f"transient, will be retried: {outcome.detail}" if outcome.transient else outcome.detail
    )
    return _fields(status="failed", reason=reason, code=outcome.code)


@dataclass(frozen=True)
class Origin:
    """Where a request came from: an event (its id correlates redeliveries) or an HTTP call."""

    event_id: str | None
    correlation_id: str

    @classmethod
    def event(cls, event_id: str) -> Origin:
        return cls(event_id, event_id)

    @classmethod
    def http(cls, invocation_id: str) -> Origin:
        return cls(None, invocation_id)


class Ledger:
    """Build once per worker around a ``shared.tables.Table``; the table is created on use."""

    def __init__(
        self,
        table: Table,
        *,
        key_id: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
        lock_seconds: float = 60.0,
        # Event Grid waits 30 s for an answer: a delivery that waits longer for the lock is
        # delivered again meanwhile, so give up (transient) with time left for the attempt
        wait_seconds: float = 15.0,
        poll_interval: float = 0.25,
        max_poll_interval: float = 2.0,
        fence_margin: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 < fence_margin < lock_seconds:
            raise ValueError("fence_margin must be positive and shorter than lock_seconds")
        self._table = table
        self.key_id = key_id
        self.clock = clock
        self.lock_seconds = lock_seconds
        self.wait_seconds = wait_seconds
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.fence_margin = fence_margin
        self._sleep = sleep

    def journal(self, origin: Origin) -> LedgerJournal:
        """The signing service's observer for one invocation (``signer.journal.Journal``)."""
        return LedgerJournal(self, origin)

    # --- rows -----------------------------------------------------------------------------

    def record(
        self,
        status: str,
        *,
        digest: str,
        reason: str = "",
        code: str | None = None,
        registry: str | None = None,
        repository: str | None = None,
        tag: str | None = None,
        event_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """A finished attempt in one write (a skip or rejection decided before any work)."""
        entity = self.entity(
            digest,
            status=_check_status(status),
            reason=reason,
            code=code,
            registry=registry,
            repository=repository,
            tag=tag,
            keyId=self.key_id,
            eventId=event_id,
            correlationId=correlation_id,
        )
        entity["finishedAt"] = entity["startedAt"]
        self.write([Operation("insert", entity)])

    def entity(self, digest: str, **values: str | None) -> dict[str, Any]:
        now = self.clock()
        entity: dict[str, Any] = {
            "PartitionKey": partition_key(digest),
            "RowKey": _row_key(now),
            "digest": clean(digest),
            "startedAt": now,
        }
        entity.update(_fields(**values))
        return entity

    def write(self, operations: list[Operation]) -> list[str | None]:
        """One call (a transaction when there are several operations), the table created on
        first use; the ETags of what was written. TableError for a refused operation."""
        for created in (False, True):
            try:
                if len(operations) == 1:
                    return [self._single(operations[0])]
                return [r.etag for r in self._table.transaction(operations)]
            except TableError as exc:
                if exc.status == 404 and exc.code == "TableNotFound" and not created:
                    self._table.create()
                    continue
                if exc.status == 409 and len(operations) == 1 and _is_insert(operations[0]):
                    return [None]  # our own insert sent again after a lost answer: unique keys
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _single(self, operation: Operation) -> str | None:
        if operation.kind == "insert":
            return self._table.insert(operation.entity)
        if operation.kind == "merge":
            return self._table.merge(operation.entity, operation.etag)
        raise ValueError("single deletes go through transactions")

    def read_lock(self, digest_key: str, row_key: str) -> tuple[dict[str, Any], str | None] | None:
        return self._table.get(digest_key, row_key)

    # --- reading ----------------------------------------------------------------------------

    def history(
        self,
        digest: str,
        limit: int = 50,
        *,
        registry: str | None = None,
        repository: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` attempts for ``digest``, newest first, as JSON-ready dicts.

        The same digest can live in many repositories (a copied image) and its history in
        one says nothing about another: give ``registry`` and ``repository`` to get the
        attempts for that artifact only. Lock rows are never part of a history.
        """
        if limit < 1:
            return []
        query = f"PartitionKey eq {_literal(partition_key(digest))} and RowKey lt 'a'"
        if registry is not None:
            query += f" and registry eq {_literal(clean(registry))}"
        if repository is not None:
            query += f" and repository eq {_literal(clean(repository))}"
        rows: list[dict[str, Any]] = []
        try:
            for entity in self._table.query(query, top=limit):
                rows.append(_public(entity))
                if len(rows) >= limit:
                    break
        except TableError as exc:
            if exc.status == 404:
                return []  # no table yet: nothing was ever recorded
            raise StorageUnavailableError(f"read signing ledger: {exc}") from None
        return rows

    def latest_status(self, digest: str) -> str | None:
        """The newest attempt's status for ``digest``, or None if it was never seen."""
        rows = self.history(digest, limit=1)
        return str(rows[0]["status"]) if rows else None


def _is_insert(operation: Operation) -> bool:
    return operation.kind == "insert"


def _literal(text: str) -> str:
    """An OData string literal."""
    return "'" + text.replace("'", "''") + "'"


def _public(entity: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"attemptId": entity["RowKey"]}
    for name, value in entity.items():
        if name in ("PartitionKey", "RowKey", "Timestamp") or name.endswith("@odata.type"):
            continue
        if name in ("startedAt", "finishedAt") and isinstance(value, str):
            out[name] = _iso(value)
        else:
            out[name] = value
    return out


def _iso(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- the journal: rows and the lock, for one invocation ------------------------------------


class LedgerJournal:
    def __init__(self, ledger: Ledger, origin: Origin) -> None:
        self._ledger = ledger
        self._origin = origin

    def _attempt_entity(self, request: SignRequest, digest: str, status: str) -> dict[str, Any]:
        return self._ledger.entity(
            digest,
            status=status,
            registry=request.registry,
            repository=request.repository,
            tag=request.tag or "",
            keyId=self._ledger.key_id,
            eventId=self._origin.event_id,
            correlationId=self._origin.correlation_id,
        )

    def record(self, request: SignRequest, outcome: Outcome) -> None:
        digest = outcome.digest or _digest_of(request)
        entity = self._attempt_entity(request, digest, "signing")
        entity.update(outcome_fields(outcome))
        entity["finishedAt"] = entity["startedAt"]
        self._ledger.write([Operation("insert", entity)])

    def started(self, request: SignRequest, digest: str) -> LedgerAttempt:
        """Insert the ``signing`` row and take the subject's lock, in one transaction."""
        ledger = self._ledger
        entity = self._attempt_entity(request, digest, "signing")
        pk = entity["PartitionKey"]
        lock_key = lock_row_key(request.registry, request.repository)
        deadline = time.monotonic() + ledger.wait_seconds
        delay = ledger.poll_interval
        while True:
            taken = (time.monotonic(), time.time())
            lock = {
                "PartitionKey": pk,
                "RowKey": lock_key,
                "holder": entity["RowKey"],
                "lockKey": clean(f"{request.registry}/{request.repository}@{digest}"),
                "expiresAt": ledger.clock() + timedelta(seconds=ledger.lock_seconds),
            }
            try:
                etags = ledger.write([Operation("insert", entity), Operation("insert", lock)])
                return LedgerAttempt(ledger, entity, lock, etags[1], taken)
            except TableError as exc:
                if exc.status != 409:
                    raise StorageUnavailableError(
                        f"lock {lock['lockKey']}: storage refused ({exc})"
                    ) from None
            # the lock row exists: ours (a resent transaction), abandoned, or held
            held = ledger.read_lock(pk, lock_key)
            if held is not None:
                row, etag = held
                if row.get("holder") == entity["RowKey"]:
                    return LedgerAttempt(ledger, entity, lock, etag, taken)
                if _expired(row, ledger.clock()):
                    attempt = self._take_over(entity, lock, etag, taken)
                    if attempt is not None:
                        return attempt
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                error = LockTimeoutError(
                    f"lock {lock['lockKey']}: still held by another worker after "
                    f"{ledger.wait_seconds:g} s"
                )
                raise error  # the service records the failed attempt (once)
            ledger._sleep(min(remaining, random.uniform(ledger.poll_interval, delay)))  # noqa: S311
            delay = min(delay * 2, ledger.max_poll_interval)

    def _take_over(
        self,
        entity: dict[str, Any],
        lock: dict[str, Any],
        etag: str | None,
        taken: tuple[float, float],
    ) -> LedgerAttempt | None:
        """Replace an abandoned lock (ETag-conditional); None when another worker was first."""
        try:
            etags = self._ledger.write(
                [Operation("insert", entity), Operation("merge", lock, etag or "*")]
            )
        except TableError as exc:
            if exc.status in (404, 409, 412):
                return None
            raise StorageUnavailableError(
                f"lock {lock['lockKey']}: storage refused ({exc})"
            ) from None
        log.warning("lock %s: took over an abandoned lock", lock["lockKey"])
        return LedgerAttempt(self._ledger, entity, lock, etags[1], taken)


def _expired(row: Mapping[str, Any], now: datetime) -> bool:
    value = row.get("expiresAt")
    try:
        expires = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return True  # unreadable: nobody can be relying on it
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return now > expires + CLOCK_SKEW


def _digest_of(request: SignRequest) -> str:
    return request.reference if ":" in request.reference else "unresolved"


class LedgerAttempt:
    """One attempt's row and lock (``signer.journal.Attempt``)."""

    def __init__(
        self,
        ledger: Ledger,
        entity: dict[str, Any],
        lock: dict[str, Any],
        etag: str | None,
        taken: tuple[float, float],
    ) -> None:
        self._ledger = ledger
        self._entity = entity
        self._lock = lock
        self._etag = etag or "*"
        self._taken = taken
        self._finished = False

    @property
    def attempt_id(self) -> str:
        return str(self._entity["RowKey"])

    def _age(self) -> float:
        monotonic, wall = self._taken
        return max(time.monotonic() - monotonic, time.time() - wall)

    def ensure_held(self) -> None:
        """The fence: trusted for ``lock_seconds - fence_margin``, renewed after that."""
        ledger = self._ledger
        if self._age() <= ledger.lock_seconds - ledger.fence_margin:
            return
        taken = (time.monotonic(), time.time())
        renewal = {
            **self._lock,
            "expiresAt": ledger.clock() + timedelta(seconds=ledger.lock_seconds),
        }
        try:
            [etag] = ledger.write([Operation("merge", renewal, self._etag)])
        except TableError as exc:
            raise LockLostError(
                f"lock {self._lock['lockKey']}: another worker holds it now ({exc}); nothing "
                "is written"
            ) from None
        except StorageUnavailableError:
            raise LockLostError(
                f"lock {self._lock['lockKey']}: could not renew it in time; nothing is written"
            ) from None
        self._etag, self._taken = etag or self._etag, taken

    def finish(self, outcome: Outcome) -> None:
        """Complete the row and release the lock, in one transaction."""
        if self._finished:
            return
        self._finished = True
        update = {
            "PartitionKey": self._entity["PartitionKey"],
            "RowKey": self._entity["RowKey"],
            **outcome_fields(outcome),
            "finishedAt": self._ledger.clock(),
        }
        release = Operation(
            "delete", {"PartitionKey": self._lock["PartitionKey"], "RowKey": self._lock["RowKey"]},
            self._etag,
        )  # fmt: skip
        try:
            self._ledger.write([Operation("merge", update), release])
        except TableError as exc:
            # the lock is gone or another worker's (it expired, or our release was resent):
            # the row is completed on its own
            log.warning("lock %s: not released (%s)", self._lock["lockKey"], exc)
            try:
                self._ledger.write([Operation("merge", update)])
            except TableError as again:
                raise StorageUnavailableError(f"write signing ledger: {again}") from None
