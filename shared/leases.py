"""A lock shared by every worker process and instance: an Azure Blob lease per key.

Event Grid delivers at least once and retries a delivery that takes longer than 30 s,
so the same push can be handled concurrently on several instances. The signing service
holds ``lock(key)`` while it reads a subject's signatures and pushes a new one, which
makes "exactly one signature per digest" and lost-update-free referrers tag-schema
indexes hold across all of them.

* one empty blob per key, named by the key's SHA-256 (keys hold ':' '/' '@'). Almost
  every key is a digest never seen before, so the blob is created first (a 409 when it
  exists) and then leased: three calls per hold, where acquire-404-create-acquire took
  four. Keys this process has leased recently skip the create (two calls); a 404 on
  acquire (blob or container deleted) still creates them;
* a held lease is renewed by a background thread every ``lease_seconds / 3``, so a long
  hold (Key Vault throttling, a slow registry) keeps the lock, while a crashed holder
  frees it within ``lease_seconds``: infinite leases are refused for that reason;
* a holder that cannot get the lease within ``wait_seconds`` raises
  ``LeaseTimeoutError`` (transient), so the platform redelivers the event later and the
  idempotency check then finds the other holder's signature;
* fencing: the hold's ``ensure_held()`` (called before every registry write) raises
  ``LockLostError`` when the lease may have run out: renewal lost it, or the last
  confirmed acquire/renew is older than ``lease_seconds - fence_margin`` by the monotonic
  or the wall clock (a frozen VM or a stopped process renews nothing, and the write that
  follows must not outlive the lease: the margin covers one request's deadline).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING
from urllib.parse import quote

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
)

from shared.storage_clients import describe, error_code, storage_error
from signer.errors import TransientError
from signer.locking import Hold, LockLostError

if TYPE_CHECKING:  # the blob SDK is imported where the clients are built, not at import
    from azure.storage.blob import BlobClient, BlobLeaseClient, ContainerClient

log = logging.getLogger("signer.leases")

MIN_LEASE_SECONDS = 15  # the service's limits for a finite lease
MAX_LEASE_SECONDS = 60
_MAX_CREATE_ROUNDS = 3  # 404 -> create -> retry, at most this often per acquire
KNOWN_KEYS = 4096  # keys whose blob this process knows exists (duplicates, re-signs)


class LeaseTimeoutError(TransientError):
    """Another holder kept the lock for longer than we were willing to wait."""

    code = "lock_timeout"


def blob_name(key: str) -> str:
    """The lease blob for ``key``: hex SHA-256, valid whatever characters the key holds."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class BlobLeaseLock:
    """``lock(key)`` is a context manager holding the blob lease for ``key`` (a ``SubjectLock``).

    Thread-safe; build one per worker around a shared ``ContainerClient``.
    """

    def __init__(
        self,
        container: ContainerClient,
        *,
        lease_seconds: int = 60,
        wait_seconds: float = 30.0,
        poll_interval: float = 0.25,
        max_poll_interval: float = 2.0,
        fence_margin: float | None = None,
    ) -> None:
        if not MIN_LEASE_SECONDS <= lease_seconds <= MAX_LEASE_SECONDS:
            raise ValueError(
                f"lease_seconds must be {MIN_LEASE_SECONDS}..{MAX_LEASE_SECONDS} "
                "(an infinite lease would outlive a crashed holder)"
            )
        if wait_seconds < 0 or poll_interval <= 0 or max_poll_interval < poll_interval:
            raise ValueError("need wait_seconds >= 0 and 0 < poll_interval <= max_poll_interval")
        # default: a request's deadline (10 s) plus a little, within a quarter of the lease
        margin = min(15.0, lease_seconds / 4) if fence_margin is None else fence_margin
        if not 0 < margin < lease_seconds * 2 / 3:
            raise ValueError("fence_margin must be positive and leave time between renewals")
        self.fence_margin = margin
        self._container = container
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self._known: OrderedDict[str, None] = OrderedDict()
        self._known_lock = threading.Lock()

    def __call__(self, key: str) -> AbstractContextManager[Hold]:
        return self._held(key)

    @contextmanager
    def _held(self, key: str) -> Iterator[Hold]:
        lease = self.acquire(key)
        renewer = _Renewer(lease, key, self.lease_seconds / 3)
        renewer.start()
        try:
            yield _LeaseHold(renewer, key, self.lease_seconds - self.fence_margin)
        finally:
            renewer.stop()
            if renewer.lost:
                log.error("lock %s: lease was lost while held; exclusion not guaranteed", key)
            try:
                lease.release()
            except AzureError as exc:
                # never masks the body's own error; the lease expires by itself anyway
                log.warning(
                    "lock %s: release failed (%s); the lease expires within %d s",
                    key,
                    describe(exc),
                    self.lease_seconds,
                )

    def acquire(self, key: str) -> BlobLeaseClient:
        """Take the lease for ``key``, waiting with jittered back-off while another holds it.

        The caller must ``release()`` it; prefer ``with lock(key):``, which also renews.
        """
        blob = self._container.get_blob_client(blob_name(key))
        if not self._is_known(key):
            self._create_blob(blob, key)
        deadline = time.monotonic() + self.wait_seconds
        delay = self.poll_interval
        creates = 0
        while True:
            try:
                lease = blob.acquire_lease(lease_duration=self.lease_seconds)
            except HttpResponseError as exc:
                if error_code(exc) == "LeaseAlreadyPresent":
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise LeaseTimeoutError(
                            f"lock {key}: still held by another worker after "
                            f"{self.wait_seconds:g} s"
                        ) from None
                    time.sleep(min(remaining, random.uniform(self.poll_interval, delay)))  # noqa: S311
                    delay = min(delay * 2, self.max_poll_interval)
                    continue
                if exc.status_code == 404 and creates < _MAX_CREATE_ROUNDS:
                    creates += 1  # deleted since we made it: again (container too if gone)
                    self._create_blob(blob, key)
                    continue
                raise storage_error(f"lock {key}: acquire lease", exc) from None
            except AzureError as exc:
                raise storage_error(f"lock {key}: acquire lease", exc) from None
            self._remember(key)
            return lease

    def _is_known(self, key: str) -> bool:
        with self._known_lock:
            if key in self._known:
                self._known.move_to_end(key)
                return True
            return False

    def _remember(self, key: str) -> None:
        with self._known_lock:
            self._known[key] = None
            self._known.move_to_end(key)
            while len(self._known) > KNOWN_KEYS:
                self._known.popitem(last=False)

    def _create_container(self) -> None:
        try:
            self._container.create_container()
            log.info("created lease container %s", self._container.container_name)
        except ResourceExistsError:
            pass  # another worker made it first
        except AzureError as exc:
            raise storage_error("create lease container", exc) from None

    def _create_blob(self, blob: BlobClient, key: str) -> None:
        for attempt in range(2):  # a second round after creating a missing container
            try:
                # the key goes into metadata so an operator can tell what a blob locks
                blob.upload_blob(b"", overwrite=False, metadata={"lockkey": quote(key, safe="")})
                return
            except ResourceExistsError:
                return  # BlobAlreadyExists: another worker (or an earlier hold) made it
            except HttpResponseError as exc:
                if exc.status_code == 412:  # exists and leased: equally fine
                    return
                if attempt == 0 and error_code(exc) == "ContainerNotFound":
                    self._create_container()
                    continue
                raise storage_error(f"lock {key}: create lease blob", exc) from None
            except AzureError as exc:
                raise storage_error(f"lock {key}: create lease blob", exc) from None


class _LeaseHold:
    """What the holder of one lease can ask: is it certainly still mine?"""

    def __init__(self, renewer: _Renewer, key: str, valid_for: float) -> None:
        self._renewer = renewer
        self._key = key
        self._valid_for = valid_for

    def ensure_held(self) -> None:
        if self._renewer.lost:
            raise LockLostError(f"lock {self._key}: the lease was lost; nothing written")
        age = self._renewer.confirmed_age()
        if age > self._valid_for:
            raise LockLostError(
                f"lock {self._key}: lease last confirmed {age:.0f} s ago (the process was "
                "paused?); it may have expired, so nothing is written"
            )


class _Renewer:
    """Renews one lease every ``interval`` seconds until stopped, on a daemon thread."""

    def __init__(self, lease: BlobLeaseClient, key: str, interval: float) -> None:
        self.lease = lease
        self.key = key
        self.interval = interval
        self.lost = False
        # when the service last confirmed the lease (acquire, then each renew), by both
        # clocks: a paused VM may stop the monotonic clock but not the wall clock
        self._confirmed = (time.monotonic(), time.time())
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-renew-{key}", daemon=True)

    def confirmed_age(self) -> float:
        monotonic, wall = self._confirmed
        return max(time.monotonic() - monotonic, time.time() - wall)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        wait = self.interval
        while not self._stopped.wait(wait):
            try:
                sent = (time.monotonic(), time.time())
                self.lease.renew()
                self._confirmed = sent  # valid from when the renewal was asked for
                wait = self.interval
            except AzureError as exc:
                if isinstance(exc, HttpResponseError) and exc.status_code == 409:
                    self.lost = True  # LeaseIdMismatch/LeaseNotPresent: it expired or was broken
                    return
                log.warning("lock %s: renew failed (%s), retrying", self.key, describe(exc))
                wait = self.interval / 2  # still a second try before the lease runs out
