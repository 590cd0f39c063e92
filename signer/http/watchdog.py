"""A hard deadline for one HTTP attempt, whatever the peer does.

Socket timeouts bound each read, not the whole answer: a server that trickles one
byte a second keeps a request with a 2 s timeout alive for ever (and, in the signer,
the subject's lock with it). Here a single daemon thread watches every attempt's
deadline; when one passes it shuts the attempt's socket down, which makes the blocked
read return at once, and the attempt is reported as having run out of time.

The sockets an attempt uses are reported by the transport (``watch``: a pooled
connection's socket when it is taken, a new one as soon as it is connected, again once
TLS wraps it) to the attempt in progress on that thread, in a thread-local slot.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from contextlib import suppress


class Attempt:
    """One request's deadline and the socket it is using."""

    __slots__ = ("deadline", "expired", "sock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sock: socket.socket | None = None
        self.expired = False

    def abort(self) -> None:
        self.expired = True
        sock = self.sock
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Attempt]] = []
        self._live: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, attempt: Attempt) -> int:
        ident = next(self._ids)
        with self._cond:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (attempt.deadline, ident, attempt))
            self._live.add(ident)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-watchdog", daemon=True)
                self._thread.start()
            elif earliest is None or attempt.deadline < earliest:
                self._cond.notify()
        return ident

    def disarm(self, ident: int) -> None:
        with self._cond:
            self._live.discard(ident)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._cond.wait(timeout=30.0)
                    continue
                deadline, ident, attempt = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._cond.wait(timeout=delay)
                    continue
                heapq.heappop(self._heap)
                self._live.discard(ident)
                # under the lock: once disarm() returns, this attempt is never aborted,
                # so a connection its owner gave back cannot be shut down under another
                attempt.abort()


_WATCHDOG = _Watchdog()
_current = threading.local()


class deadline:  # noqa: N801 - a context manager, named as one is used
    """Run one HTTP attempt on this thread under a hard deadline of ``seconds``.

    A class rather than a @contextmanager generator: it is entered once per request."""

    __slots__ = ("_attempt", "_ident", "_previous")

    def __init__(self, seconds: float) -> None:
        self._attempt = Attempt(time.monotonic() + seconds)

    def __enter__(self) -> Attempt:
        self._ident = _WATCHDOG.arm(self._attempt)
        self._previous = getattr(_current, "attempt", None)
        _current.attempt = self._attempt
        return self._attempt

    def __exit__(self, *exc: object) -> None:
        _current.attempt = self._previous
        _WATCHDOG.disarm(self._ident)


def watch(sock: socket.socket | None) -> None:
    """Put ``sock`` under the deadline of the attempt running on this thread, if any."""
    attempt: Attempt | None = getattr(_current, "attempt", None)
    if attempt is not None and sock is not None:
        attempt.sock = sock
        if attempt.expired:  # the deadline passed while the connection was being made
            attempt.abort()
