"""What the registry auth flows send through: the transport's unauthenticated sender.

``HttpResponse`` (a fully read, size-capped answer) comes from ``signer.http``; it is
re-exported here for the registry package's modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from signer.http import HttpResponse

__all__ = ["HttpResponse", "Sender"]


class Sender(Protocol):
    """Send one request with the transport's retry policy but without registry auth.

    Token endpoints are called through this so they get the same retries,
    timeouts and https rules as registry calls.
    """

    def __call__(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        data: Mapping[str, str] | bytes | None = None,
        basic: tuple[str, str] | None = None,
    ) -> HttpResponse: ...
