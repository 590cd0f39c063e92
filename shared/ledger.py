"""The audit ledger: one Azure Table row per signing attempt, newest first per digest.

Layout: PartitionKey is the subject digest with ':' as '-' (``sha256-<hex>``), so one
digest's history is a single-partition query. RowKey is
``<inverted microseconds since the epoch, 16 digits>-<uuid4 hex>``: unique without
coordination, and the service's ascending RowKey order is newest first, so ``history``
and ``latest_status`` read one page and stop (ordering follows the writers' clocks).

``start`` writes a ``signing`` row before any work and ``finish`` completes the same row,
so a worker that dies mid-signature leaves a visible ``signing`` row. A storage error is
raised as ``TransientError``: the event is redelivered rather than signed without a
record. Values are sanitised (no control characters or lone surrogates) and truncated
well under the service's 32 K-character property limit; reasons come from error messages.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.storage_clients import describe, storage_error

if TYPE_CHECKING:  # the tables SDK is imported where the client is built, not at import
    from azure.data.tables import TableClient

log = logging.getLogger("signer.ledger")

STATUSES = frozenset({"signing", "signed", "skipped", "failed"})
REASON_LIMIT = 8000
FIELD_LIMIT = 1024
PARTITION_KEY_LIMIT = 512  # the service allows 1 KiB
TRUNCATED = "…[truncated]"
_EPOCH_MICROS_MAX = 10**16 - 1  # inverted-time RowKeys stay 16 digits until the year 2286
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_KEY_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def partition_key(digest: str) -> str:
    """``sha256:<hex>`` -> ``sha256-<hex>``; any other text made into a legal Table key."""
    key = _KEY_FORBIDDEN.sub("_", clean(digest, PARTITION_KEY_LIMIT).replace(":", "-"))
    return key or "unknown"


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


class LedgerEntry:
    """The row of one attempt in progress; ``finish`` completes it."""

    def __init__(self, ledger: Ledger, entity: dict[str, Any]) -> None:
        self._ledger = ledger
        self._entity = entity

    @property
    def attempt_id(self) -> str:
        return str(self._entity["RowKey"])

    def finish(
        self,
        status: str,
        *,
        reason: str = "",
        signature_digest: str | None = None,
        certificate_thumbprint: str | None = None,
        key_version: str | None = None,
    ) -> None:
        """Set the outcome on this attempt's row (``signed``, ``skipped`` or ``failed``)."""
        if _check_status(status) == "signing":
            raise ValueError("finish() needs an outcome, not 'signing'")
        self._entity.update(
            _fields(
                status=status,
                reason=reason,
                signatureDigest=signature_digest,
                certificateThumbprint=certificate_thumbprint,
                keyVersion=key_version,
            )
        )
        self._entity["finishedAt"] = self._ledger.clock()
        self._ledger.write(self._entity, upsert=True)


class Ledger:
    """Build once per worker around a ``TableClient``; the table is created on first write."""

    def __init__(self, table: TableClient, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._table = table
        self.clock = clock

    def start(
        self,
        *,
        digest: str,
        registry: str | None = None,
        repository: str | None = None,
        tag: str | None = None,
        key_id: str | None = None,
        key_version: str | None = None,
        event_id: str | None = None,
        correlation_id: str | None = None,
    ) -> LedgerEntry:
        """Write a ``signing`` row for a new attempt; ``finish`` it when the outcome is known."""
        entity = self._entity(
            "signing",
            digest,
            registry=registry,
            repository=repository,
            tag=tag,
            keyId=key_id,
            keyVersion=key_version,
            eventId=event_id,
            correlationId=correlation_id,
        )
        self.write(entity)
        return LedgerEntry(self, entity)

    def record(
        self,
        status: str,
        *,
        digest: str,
        reason: str = "",
        registry: str | None = None,
        repository: str | None = None,
        tag: str | None = None,
        signature_digest: str | None = None,
        key_id: str | None = None,
        key_version: str | None = None,
        certificate_thumbprint: str | None = None,
        event_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """A finished attempt in one write (a skip or rejection decided before any work)."""
        entity = self._entity(
            _check_status(status),
            digest,
            reason=reason,
            registry=registry,
            repository=repository,
            tag=tag,
            signatureDigest=signature_digest,
            keyId=key_id,
            keyVersion=key_version,
            certificateThumbprint=certificate_thumbprint,
            eventId=event_id,
            correlationId=correlation_id,
        )
        entity["finishedAt"] = entity["startedAt"]
        self.write(entity)

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
        attempts for that artifact only.
        """
        if limit < 1:
            return []
        query = "PartitionKey eq @pk"
        parameters = {"pk": partition_key(digest)}
        if registry is not None:
            query += " and registry eq @registry"
            parameters["registry"] = clean(registry)
        if repository is not None:
            query += " and repository eq @repository"
            parameters["repository"] = clean(repository)
        pager = self._table.query_entities(query, parameters=parameters, results_per_page=limit)
        rows: list[dict[str, Any]] = []
        try:
            for entity in pager:
                rows.append(_public(entity))
                if len(rows) >= limit:
                    break
        except ResourceNotFoundError:
            return []  # no table yet: nothing was ever recorded
        except AzureError as exc:
            raise storage_error("read signing ledger", exc) from None
        return rows

    def latest_status(self, digest: str) -> str | None:
        """The newest attempt's status for ``digest``, or None if it was never seen."""
        rows = self.history(digest, limit=1)
        return str(rows[0]["status"]) if rows else None

    # --- internals ------------------------------------------------------------------------

    def _entity(self, status: str, digest: str, **values: str | None) -> dict[str, Any]:
        now = self.clock()
        entity: dict[str, Any] = {
            "PartitionKey": partition_key(digest),
            "RowKey": _row_key(now),
            "digest": clean(digest),
            "status": status,
            "startedAt": now,
        }
        entity.update(_fields(**values))
        return entity

    def write(self, entity: Mapping[str, Any], *, upsert: bool = False) -> None:
        """Insert (or merge) one row, creating the table if this is its first row.

        A connection lost mid-request is tried once more here: azure-core retries only
        methods on its idempotent list, which has neither POST (insert) nor PATCH (merge).
        Both are safe to repeat: RowKeys are unique, and merging the same values twice
        leaves the same row. Without this, a kept-alive connection the server closed at
        the wrong moment left a finished attempt's row at "signing".
        """
        from azure.data.tables import UpdateMode  # noqa: PLC0415 - loaded with the client

        created = resent = False
        while True:
            try:
                if upsert:
                    self._table.upsert_entity(entity, mode=UpdateMode.MERGE)
                else:
                    self._table.create_entity(entity)
                return
            except ResourceExistsError:
                return  # our own insert, retried after a lost answer: RowKeys are unique
            except ResourceNotFoundError as exc:
                if created:
                    raise storage_error("write signing ledger", exc) from None
                created = True
                self._create_table()
            except (ServiceRequestError, ServiceResponseError) as exc:
                if resent:
                    raise storage_error("write signing ledger", exc) from None
                resent = True
                log.info("ledger write: %s, sending it once more", describe(exc))
            except AzureError as exc:
                raise storage_error("write signing ledger", exc) from None

    def _create_table(self) -> None:
        try:
            self._table.create_table()
        except ResourceExistsError:
            pass
        except AzureError as exc:
            raise storage_error("create signing ledger table", exc) from None


def _fields(**values: str | None) -> dict[str, str]:
    """Non-empty values, cleaned; ``reason`` may be longer than the other fields."""
    return {
        name: clean(value, REASON_LIMIT if name == "reason" else FIELD_LIMIT)
        for name, value in values.items()
        if value
    }


def _public(entity: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"attemptId": entity["RowKey"]}
    for name, value in entity.items():
        if name in ("PartitionKey", "RowKey"):
            continue
        if isinstance(value, datetime):
            out[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        else:
            out[name] = value
    return out
