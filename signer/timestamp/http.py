"""The one network call of the package: POST a TimeStampReq, read the reply (RFC 3161 3.4).

Made on the project's HTTP client (``signer.http``), so a TSA is reached as every other
remote is: through the environment's proxy (``HTTPS_PROXY``/``NO_PROXY``, as notation
does), trusting the environment's CA bundle, never with ``.netrc`` credentials. Each
exchange has a hard deadline (a TSA that trickles its answer a byte at a time cannot hold
the call), each connect and socket read its own timeout inside it, the body a size cap;
redirects are not followed and content encodings are not decoded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from signer.http import HttpClient

QUERY_MEDIA_TYPE = "application/timestamp-query"
REPLY_MEDIA_TYPE = "application/timestamp-reply"
USER_AGENT = "acr-notary-signer/0.1"


class DeadlineExceededError(Exception):
    """The call's overall time ran out before this attempt could start."""


@dataclass(frozen=True)
class HttpReply:
    status: int
    media_type: str  # lowercased, parameters dropped
    retry_after: str | None
    body: bytes = field(repr=False)  # read for 200 only


def new_client(*, timeout: float, connect_timeout: float, read_timeout: float) -> HttpClient:
    """A client for one Timestamper (a small pool: one request per signature)."""
    return HttpClient(
        timeout=timeout,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        pool_size=8,
        user_agent=USER_AGENT,
    )


def post_query(
    client: HttpClient, url: str, query: bytes, *, deadline: float, max_body: int
) -> HttpReply:
    """One POST of ``query`` within ``deadline`` (a ``time.monotonic()`` instant).

    Raises ``signer.http.TransportError`` (its ``kind`` says why) or DeadlineExceededError.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceededError
    answer = client.exchange(
        "POST",
        url,
        headers={"Content-Type": QUERY_MEDIA_TYPE, "Accept": REPLY_MEDIA_TYPE},
        body=query,
        max_body=max_body,
        follow_redirects=False,
        timeout=remaining,
    )
    media_type = (answer.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    return HttpReply(
        status=answer.status,
        media_type=media_type,
        retry_after=answer.headers.get("Retry-After"),
        body=answer.content if answer.status == 200 else b"",
    )
