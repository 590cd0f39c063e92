"""How one signing attempt is reported while it runs: the service's observer.

The service calls ``journal.record(...)`` for what it decides without doing any work (a
loop-guard skip, a failure before anything was read), and ``journal.started(...)`` before
it reads a subject's signatures; the returned ``Attempt`` is the subject's lock for the
attempt (``ensure_held()`` before every visible write) and takes the outcome once with
``finish(...)``. The app's audit ledger implements it with its Table rows (and its lock
in the same transactions); ``NULL_JOURNAL`` serves the CLI and tests, where one process
signs alone and nothing is recorded.
"""

from __future__ import annotations

from typing import Protocol

from signer.errors import TransientError
from signer.models import Outcome, SignRequest


class LockLostError(TransientError):
    """The subject's lock may be gone (expired while the worker was paused, taken over):
    nothing is written, and the platform delivers the event again."""

    code = "lock_lost"


class Attempt(Protocol):
    def ensure_held(self) -> None:
        """Raise a TransientError unless the subject's lock is certainly still held."""
        ...

    def finish(self, outcome: Outcome) -> None:
        """Record the outcome and release the lock (once)."""
        ...


class Journal(Protocol):
    def record(self, request: SignRequest, outcome: Outcome) -> None:
        """An outcome decided without the lock (one write)."""
        ...

    def started(self, request: SignRequest, digest: str) -> Attempt:
        """An attempt on ``digest`` begins; blocks while another holder has the subject.

        Raises TransientError when the lock stays held too long or storage fails.
        """
        ...


class _Unrecorded:
    def ensure_held(self) -> None:
        return None

    def finish(self, outcome: Outcome) -> None:
        return None


class _NullJournal:
    def record(self, request: SignRequest, outcome: Outcome) -> None:
        return None

    def started(self, request: SignRequest, digest: str) -> Attempt:
        return _Unrecorded()


NULL_JOURNAL: Journal = _NullJournal()
