"""Blob-lease locks against a real Azurite: exclusion across threads and processes."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.core.pipeline import PipelineResponse
from azure.storage.blob import BlobLeaseClient, BlobServiceClient, ContainerClient

from shared.leases import BlobLeaseLock, LeaseTimeoutError, blob_name
from shared.settings import StorageSettings
from shared.storage_clients import StorageUnavailableError, blob_service_client
from signer.errors import TransientError
from signer.locking import SubjectLock
from tests.plugins.azurite import ACCOUNT_KEY, StorageNames

pytestmark = pytest.mark.azurite

KEY = "example.azurecr.io/team/app@sha256:" + "ab" * 32
Lock = SubjectLock


def _container(connection_string: str, name: str) -> ContainerClient:
    service = blob_service_client(StorageSettings(connection_string=connection_string))
    return service.get_container_client(name)


@pytest.fixture
def container(azurite_connection_string: str, storage_names: StorageNames) -> ContainerClient:
    return _container(azurite_connection_string, storage_names.container)  # not created yet


def _fast(container: ContainerClient, **kwargs: float) -> BlobLeaseLock:
    options = {"wait_seconds": 30.0, "poll_interval": 0.02, "max_poll_interval": 0.2, **kwargs}
    return BlobLeaseLock(container, lease_seconds=15, **options)


def _increment(container: ContainerClient, trace: list[str], name: str) -> None:
    """Read-modify-write of a counter blob, slow enough that overlapping callers lose updates."""
    counter = container.get_blob_client("counter")
    trace.append(f"enter {name}")
    try:
        value = int(counter.download_blob().readall())
    except ResourceNotFoundError:
        value = 0
    time.sleep(0.02)
    counter.upload_blob(str(value + 1).encode(), overwrite=True)
    trace.append(f"exit {name}")


def _hammer(container: ContainerClient, lock: Lock | None, threads: int, rounds: int) -> list[str]:
    trace: list[str] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for _ in range(rounds):
                with lock(KEY) if lock else contextlib.nullcontext():
                    _increment(container, trace, name)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not errors, errors
    return trace


def _assert_no_interleaving(trace: list[str]) -> None:
    for enter, leave in zip(trace[::2], trace[1::2], strict=True):
        assert enter.startswith("enter ") and leave == "exit " + enter.removeprefix("enter ")


def test_threads_are_mutually_exclusive(container: ContainerClient) -> None:
    """Also races eight first users to create the container and the lease blob."""
    trace = _hammer(container, _fast(container), threads=8, rounds=3)
    assert int(container.get_blob_client("counter").download_blob().readall()) == 24
    assert len(trace) == 48
    _assert_no_interleaving(trace)


def test_without_the_lock_the_same_workload_loses_updates(container: ContainerClient) -> None:
    """The check above can fail: unlocked, the counter ends low and the trace interleaves."""
    container.create_container()
    trace = _hammer(container, None, threads=8, rounds=3)
    assert int(container.get_blob_client("counter").download_blob().readall()) < 24
    with pytest.raises(AssertionError):
        _assert_no_interleaving(trace)


def _process_worker(connection_string: str, container_name: str, name: str, rounds: int) -> None:
    """Runs in a spawned process with its own client; logs to a shared append blob."""
    container = _container(connection_string, container_name)
    lock = _fast(container)
    log_blob = container.get_blob_client("trace")
    for _ in range(rounds):
        with lock(KEY):
            log_blob.append_block(f"enter {name}\n".encode())
            counter = container.get_blob_client("counter")
            value = int(counter.download_blob().readall())
            time.sleep(0.02)
            counter.upload_blob(str(value + 1).encode(), overwrite=True)
            log_blob.append_block(f"exit {name}\n".encode())


def test_processes_are_mutually_exclusive(
    container: ContainerClient, azurite_connection_string: str, storage_names: StorageNames
) -> None:
    container.create_container()
    container.get_blob_client("counter").upload_blob(b"0")
    container.get_blob_client("trace").create_append_blob()
    spawn = multiprocessing.get_context("spawn")
    args = (azurite_connection_string, storage_names.container)
    procs = [spawn.Process(target=_process_worker, args=(*args, f"p{i}", 6)) for i in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    assert int(container.get_blob_client("counter").download_blob().readall()) == 12
    trace = container.get_blob_client("trace").download_blob().readall().decode().splitlines()
    assert len(trace) == 24 and {line.split()[1] for line in trace} == {"p0", "p1"}
    _assert_no_interleaving(trace)


def test_waits_and_acquires_after_release(container: ContainerClient) -> None:
    lock = _fast(container)
    held = threading.Event()
    released_at: list[float] = []

    def holder() -> None:
        with lock(KEY):
            held.set()
            time.sleep(0.5)
            released_at.append(time.monotonic())

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    with lock(KEY):
        acquired_at = time.monotonic()
    thread.join()
    assert acquired_at >= released_at[0]
    assert acquired_at - released_at[0] < 1.0  # polling, not waiting out the 15 s lease


def test_timeout_raises_a_transient_error(container: ContainerClient) -> None:
    with _fast(container)(KEY):
        started = time.monotonic()
        with pytest.raises(LeaseTimeoutError) as caught, _fast(container, wait_seconds=0.3)(KEY):
            pytest.fail("acquired a lock that is held")
        waited = time.monotonic() - started
    assert isinstance(caught.value, TransientError)
    assert caught.value.code == "lock_timeout" and KEY in str(caught.value)
    assert 0.3 <= waited < 2.0
    with _fast(container, wait_seconds=0)(KEY):  # released after the holder's block
        pass


def test_released_when_the_body_raises(container: ContainerClient) -> None:
    lock = _fast(container)
    with pytest.raises(RuntimeError, match="boom"), lock(KEY):
        raise RuntimeError("boom")
    with _fast(container, wait_seconds=0)(KEY):
        pass


def test_a_failed_release_is_logged_and_masks_nothing(
    container: ContainerClient, caplog: pytest.LogCaptureFixture
) -> None:
    lock = _fast(container)
    blob = container.get_blob_client(blob_name(KEY))

    def steal() -> None:
        BlobLeaseClient(blob).break_lease(lease_break_period=0)
        thief = BlobLeaseClient(blob)
        thief.acquire(lease_duration=15)
        thieves.append(thief)

    thieves: list[BlobLeaseClient] = []
    with pytest.raises(ValueError, match="original"), lock(KEY):
        steal()
        raise ValueError("original")
    thieves[0].break_lease(lease_break_period=0)
    with lock(KEY):  # body succeeds, release still fails: logged only
        steal()
    failures = [r for r in caplog.records if "release failed" in r.getMessage()]
    assert len(failures) == 2 and all(r.levelno == logging.WARNING for r in failures)


def test_keys_with_any_characters_and_lazy_creation(container: ContainerClient) -> None:
    lock = _fast(container)
    keys = [KEY, "reg/repo@sha512:" + "0" * 128, "ünï/cødé:@#?", ""]
    for key in keys:
        with lock(key):
            pass
    names = {blob.name for blob in container.list_blobs(include=["metadata"])}
    assert names == {blob_name(k) for k in keys}
    assert all(len(name) == 64 for name in names)
    props = container.get_blob_client(blob_name(KEY)).get_blob_properties()
    assert props.lease.state == "available"  # released


def test_storage_calls_per_hold(
    azurite_connection_string: str, storage_names: StorageNames
) -> None:
    """New key: create, acquire, release. A key this lock has held: acquire, release."""
    calls: list[tuple[str, int, str]] = []

    def record(response: PipelineResponse[Any, Any]) -> None:
        http = response.http_response
        code = http.headers.get("x-ms-error-code", "")
        calls.append((http.request.method, http.status_code, code))

    service = BlobServiceClient.from_connection_string(
        azurite_connection_string, raw_response_hook=record
    )
    container = service.get_container_client(storage_names.container)
    lock = _fast(container)

    with lock(KEY):  # container missing: created on the way
        pass
    assert [c[1] for c in calls] == [404, 201, 201, 201, 200], calls
    calls.clear()
    with lock(KEY):
        pass
    assert len(calls) == 2, calls
    calls.clear()
    with lock(KEY + "2"):
        pass
    assert len(calls) == 3, calls
    calls.clear()
    with _fast(container)(KEY):  # another worker: its create meets the blob
        pass
    assert calls[0][1:] == (409, "BlobAlreadyExists"), calls
    assert len(calls) == 3, calls
    calls.clear()
    container.get_blob_client(blob_name(KEY)).delete_blob()
    calls.clear()
    with lock(KEY):  # remembered, but deleted behind its back: 404, create, acquire
        pass
    assert [c[1] for c in calls] == [404, 201, 201, 200], calls
    container.delete_container()
    calls.clear()
    with lock(KEY):  # the container too: acquire 404, create 404, container, blob, acquire
        pass
    assert [c[1:] for c in calls[:2]] == [(404, "ContainerNotFound")] * 2, calls
    assert [c[1] for c in calls[2:]] == [201, 201, 201, 200], calls


def test_lease_is_renewed_while_held(container: ContainerClient) -> None:
    """Held past the 15 s lease: without renewal another holder would get in."""
    with _fast(container)(KEY):
        time.sleep(16.5)
        with pytest.raises(LeaseTimeoutError), _fast(container, wait_seconds=0)(KEY):
            pass


def test_lease_bounds() -> None:
    container = BlobServiceClient("http://127.0.0.1:9").get_container_client("x")
    for seconds in (-1, 0, 14, 61):
        with pytest.raises(ValueError, match=r"15\.\.60"):
            BlobLeaseLock(container, lease_seconds=seconds)
    with pytest.raises(ValueError, match="poll_interval"):
        BlobLeaseLock(container, poll_interval=0)


def test_storage_errors_are_transient_and_name_no_secret() -> None:
    closed = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    service = BlobServiceClient.from_connection_string(closed, retry_total=0)
    lock = BlobLeaseLock(service.get_container_client("nowhere"))
    with pytest.raises(StorageUnavailableError) as caught, lock(KEY):
        pass
    assert isinstance(caught.value, TransientError)
    assert ACCOUNT_KEY not in str(caught.value) and "127.0.0.1" not in str(caught.value)


@pytest.fixture(autouse=True)
def _no_leaked_renewers() -> Iterator[None]:
    yield
    assert not [t for t in threading.enumerate() if t.name.startswith("lease-renew-")]
