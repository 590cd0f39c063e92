"""What the transport hands back: a fully read, size-capped HTTP answer.

Reading the body inside the transport lets a failure half-way through a body be
retried like any other connection error, and keeps ``requests`` objects (which
hold sockets) out of the rest of the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from requests.structures import CaseInsensitiveDict


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: CaseInsensitiveDict[str]
    content: bytes
    url: str


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
