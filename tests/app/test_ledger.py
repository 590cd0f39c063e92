"""The audit ledger against a real Azurite table service."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableClient, TableServiceClient
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from shared.ledger import REASON_LIMIT, TRUNCATED, Ledger, partition_key
from shared.settings import StorageSettings
from shared.storage_clients import (
    StorageUnavailableError,
    blob_service_client,
    storage_credential,
    table_service_client,
)
from signer.errors import TransientError
from tests.plugins.azurite import ACCOUNT_KEY, StorageNames
from tests.servers.fault_proxy import FaultProxy

pytestmark = pytest.mark.azurite

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


@pytest.fixture
def table(azurite_connection_string: str, storage_names: StorageNames) -> Iterator[TableClient]:
    service = table_service_client(StorageSettings(connection_string=azurite_connection_string))
    with service.get_table_client(storage_names.table) as client:
        yield client


@pytest.fixture
def ledger(table: TableClient) -> Ledger:
    return Ledger(table)


def test_start_writes_signing_and_finish_completes_the_same_row(ledger: Ledger) -> None:
    entry = ledger.start(
        digest=DIGEST,
        registry="example.azurecr.io",
        repository="team/app",
        tag="v1",
        key_id="https://kv.vault.azure.net/keys/signer",
        key_version="0123abcd",
        event_id="evt-1",
        correlation_id="corr-1",
    )
    [row] = ledger.history(DIGEST)
    assert row["status"] == "signing"
    assert row["attemptId"] == entry.attempt_id
    assert "finishedAt" not in row
    assert ledger.latest_status(DIGEST) == "signing"

    entry.finish("signed", signature_digest=OTHER, certificate_thumbprint="ff" * 32, reason="done")
    [row] = ledger.history(DIGEST)
    assert row == {
        "attemptId": entry.attempt_id,
        "digest": DIGEST,
        "status": "signed",
        "registry": "example.azurecr.io",
        "repository": "team/app",
        "tag": "v1",
        "keyId": "https://kv.vault.azure.net/keys/signer",
        "keyVersion": "0123abcd",
        "eventId": "evt-1",
        "correlationId": "corr-1",
        "reason": "done",
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


def test_history_is_newest_first_per_digest_and_limited(ledger: Ledger) -> None:
    ledger.record("skipped", digest=DIGEST, reason="first")
    ledger.record("failed", digest=OTHER, reason="another digest")
    ledger.start(digest=DIGEST).finish("failed", reason="second")
    ledger.record("skipped", digest=DIGEST, reason="third")
    ledger.start(digest=DIGEST)  # fourth, still running

    history = ledger.history(DIGEST)
    assert [r.get("reason", "") for r in history] == ["", "third", "second", "first"]
    assert [r["status"] for r in history] == ["signing", "skipped", "failed", "skipped"]
    assert len({r["attemptId"] for r in history}) == 4
    assert [r["reason"] for r in ledger.history(DIGEST, limit=2)[1:]] == ["third"]
    assert ledger.latest_status(DIGEST) == "signing"
    assert ledger.latest_status(OTHER) == "failed"


def test_ordering_follows_time_not_write_order(table: TableClient) -> None:
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


def test_unknown_digest_and_missing_table(ledger: Ledger, table: TableClient) -> None:
    assert ledger.history(DIGEST) == []  # the table does not exist yet
    assert ledger.latest_status(DIGEST) is None
    ledger.record("skipped", digest=OTHER, reason="creates the table")
    assert ledger.history(DIGEST) == []
    assert ledger.history(OTHER, limit=0) == []


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
    entry = ledger.start(digest=DIGEST)
    with pytest.raises(ValueError, match="outcome"):
        entry.finish("signing")


def test_storage_errors_are_transient_and_name_no_secret() -> None:
    closed = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={ACCOUNT_KEY};TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    service = TableServiceClient.from_connection_string(closed, retry_total=0)
    ledger = Ledger(service.get_table_client("nowhere"))
    with pytest.raises(TransientError) as caught:
        ledger.start(digest=DIGEST)
    assert isinstance(caught.value, StorageUnavailableError)
    assert "write signing ledger" in str(caught.value)
    assert ACCOUNT_KEY not in str(caught.value) and "127.0.0.1" not in str(caught.value)
    with pytest.raises(StorageUnavailableError):
        ledger.history(DIGEST)


def test_identity_based_clients_use_the_configured_identity() -> None:
    settings = StorageSettings(
        blob_service_uri="https://acct.blob.core.windows.net",
        table_service_uri="https://acct.table.core.windows.net",
        client_id="00000000-0000-0000-0000-000000000001",
    )
    assert isinstance(storage_credential(settings), ManagedIdentityCredential)
    system = StorageSettings(
        blob_service_uri=settings.blob_service_uri, table_service_uri=settings.table_service_uri
    )
    assert isinstance(storage_credential(system), DefaultAzureCredential)
    assert table_service_client(settings).url.startswith("https://acct.table.core.windows.net")
    assert blob_service_client(settings).url.startswith("https://acct.blob.core.windows.net")


@pytest.fixture
def proxied_ledger(
    azurite_connection_string: str, storage_names: StorageNames
) -> Iterator[tuple[Ledger, FaultProxy, TableClient]]:
    """A ledger whose table endpoint is a fault proxy in front of Azurite's."""
    endpoint = re.search(r"TableEndpoint=(http://[^/;]+)", azurite_connection_string)
    assert endpoint is not None
    with FaultProxy(endpoint.group(1)) as proxy:
        proxied = re.sub(
            r"TableEndpoint=http://[^/;]+", f"TableEndpoint={proxy.url}", azurite_connection_string
        )
        service = table_service_client(StorageSettings(connection_string=proxied))
        direct = TableClient.from_connection_string(azurite_connection_string, storage_names.table)
        with service.get_table_client(storage_names.table) as client:
            yield Ledger(client), proxy, direct


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_connection_lost_mid_write_is_sent_once_more(
    proxied_ledger: tuple[Ledger, FaultProxy, TableClient], method: str
) -> None:
    """azure-core does not retry POST or PATCH; the ledger does, once: both are safe to repeat.

    ``after_forward``: the write reached the table and only the answer was lost, the case
    where repeating must not break (an insert then meets its own row).
    """
    ledger, proxy, direct = proxied_ledger
    ledger.record("skipped", digest=OTHER)  # the table exists: only the rule below fires
    proxy.reset(method=method, path=r"/t", after_forward=True)

    entry = ledger.start(digest=DIGEST, repository="team/app")
    entry.finish("signed", signature_digest=OTHER)

    assert proxy.count(outcome="reset") == 1
    [row] = list(direct.query_entities(f"PartitionKey eq '{partition_key(DIGEST)}'"))
    assert (row["status"], row["signatureDigest"], row["repository"]) == (
        "signed",
        OTHER,
        "team/app",
    )


def test_a_connection_lost_twice_is_a_transient_error(
    proxied_ledger: tuple[Ledger, FaultProxy, TableClient],
) -> None:
    ledger, proxy, direct = proxied_ledger
    entry = ledger.start(digest=DIGEST)
    proxy.reset(method="PATCH", path=r"/t", times=2)

    with pytest.raises(StorageUnavailableError, match="no answer"):
        entry.finish("signed")

    assert proxy.count(outcome="reset") == 2
    [row] = list(direct.query_entities(f"PartitionKey eq '{partition_key(DIGEST)}'"))
    assert row["status"] == "signing"  # honest: the outcome never reached the table
