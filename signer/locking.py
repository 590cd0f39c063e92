"""The lock the signing service holds while it reads a subject's signatures and adds one.

``SubjectLock`` is ``lock(key) -> context manager`` yielding a ``Hold``; the lock must be
exclusive across processes and machines (the app uses one in Azure Storage). A holder can
lose its lock without noticing (a VM freeze, a GC pause, SIGSTOP longer than the lease):
``Hold.ensure_held()`` is called right before every write others can see, and raises a
``LockLostError`` (transient: the event is delivered again) when the lock may be gone, so
no write is ever made from a listing another holder may have made stale (fencing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from signer.errors import TransientError


class LockLostError(TransientError):
    code = "lock_lost"


class Hold(Protocol):
    def ensure_held(self) -> None:
        """Raise LockLostError unless the lock is certainly still held for a while."""
        ...


SubjectLock = Callable[[str], AbstractContextManager[Hold]]


class _Unlocked:
    def ensure_held(self) -> None:
        return None


@contextmanager
def no_lock(_key: str) -> Iterator[Hold]:
    """For one process with nobody else signing the same registry (the CLI, tests)."""
    yield _Unlocked()
