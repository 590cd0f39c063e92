"""The one network call of the package: POST a TimeStampReq, read the reply (RFC 3161 3.4).

``post_query`` is the only function that touches the network, and ``new_session`` the
only place a session is made, so both can later move onto the project's shared
proxy/CA-bundle setup without touching the protocol code.

Time is bounded twice. Each connect and each socket read has its own timeout, clamped
to what is left of the call's deadline; and a watchdog shuts the call's sockets down
when the deadline passes, because a peer that trickles its headers or body a byte at a
time never trips a per-read timeout. The body is read with ``read1`` (what has arrived,
not "fill the buffer"), under a size cap, and only for a 200 answer; redirects are not
followed and content encodings are not decoded.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.response import BaseHTTPResponse

QUERY_MEDIA_TYPE = "application/timestamp-query"
REPLY_MEDIA_TYPE = "application/timestamp-reply"
USER_AGENT = "acr-notary-signer/0.1"
_READ_SIZE = 16 * 1024


class DeadlineExceededError(Exception):
    """The call's overall time ran out (raised instead of whatever the cut socket gave)."""


class ReplyTooLargeError(Exception):
    pass


@dataclass(frozen=True)
class HttpReply:
    status: int
    media_type: str  # lowercased, parameters dropped
    retry_after: str | None
    body: bytes = field(repr=False)  # read for 200 only


# --- the deadline watchdog -----------------------------------------------------------------


class _Watch:
    """Shuts down every socket the current call opens or reuses once ``seconds`` pass."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.fired = False
        self._done = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def track(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.fired:
                _cut(sock)
            elif not self._done:
                self._sockets.append(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _cut(sock)

    def close(self) -> None:
        with self._lock:
            self._done = True
            self._sockets = []
        self._timer.cancel()


def _cut(sock: socket.socket) -> None:
    # shutdown (not close) wakes a thread blocked in recv on this socket
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_current: ContextVar[_Watch | None] = ContextVar("timestamp_watch", default=None)


class _WatchedMixin:
    """A urllib3 connection that reports its socket to the current call's watch."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        watch = _current.get()
        if watch is not None:
            watch.track(sock)
        return sock

    def getresponse(self) -> Any:
        watch = _current.get()
        if watch is not None:
            watch.track(self.sock)  # a kept-alive connection taken from the pool
        return super().getresponse()  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """urllib3 retries stay off (the default): retrying is the caller's decision."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


@contextmanager
def _watched(seconds: float) -> Iterator[_Watch]:
    watch = _Watch(seconds)
    token = _current.set(watch)
    try:
        yield watch
    finally:
        _current.reset(token)
        watch.close()


# --- session and call ----------------------------------------------------------------------


def new_session() -> requests.Session:
    """A session for one Timestamper: no environment proxies or .netrc, watched sockets."""
    session = requests.Session()
    session.trust_env = False
    adapter = _WatchedAdapter(pool_connections=2, pool_maxsize=8)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def _read_body(raw: BaseHTTPResponse, limit: int, deadline: float) -> bytes:
    body = bytearray()
    while True:
        if time.monotonic() >= deadline:
            raise DeadlineExceededError
        chunk = raw.read1(_READ_SIZE, decode_content=False)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise ReplyTooLargeError


def post_query(
    session: requests.Session,
    url: str,
    query: bytes,
    *,
    connect_timeout: float,
    read_timeout: float,
    deadline: float,
    max_body: int,
) -> HttpReply:
    """One POST of ``query``; ``deadline`` is a ``time.monotonic()`` instant.

    Raises ``requests`` transport exceptions, urllib3 ``HTTPError`` or ``OSError`` for a
    failure mid-body, DeadlineExceededError and ReplyTooLargeError.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceededError
    with _watched(remaining) as watch:
        try:
            with session.post(
                url,
                data=query,
                headers={
                    "Content-Type": QUERY_MEDIA_TYPE,
                    "Accept": REPLY_MEDIA_TYPE,
                    "Accept-Encoding": "identity",
                },
                timeout=(min(connect_timeout, remaining), min(read_timeout, remaining)),
                allow_redirects=False,
                stream=True,
            ) as answer:
                media_type = answer.headers.get("Content-Type", "").split(";", 1)[0]
                reply = HttpReply(
                    status=answer.status_code,
                    media_type=media_type.strip().lower(),
                    retry_after=answer.headers.get("Retry-After"),
                    body=b"",
                )
                if answer.status_code != 200:
                    return reply
                length = answer.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > max_body:
                    raise ReplyTooLargeError
                body = _read_body(answer.raw, max_body, deadline)
                if watch.fired:  # a cut socket reads as end of body
                    raise DeadlineExceededError
                return HttpReply(reply.status, reply.media_type, reply.retry_after, body)
        except (requests.RequestException, Urllib3Error, OSError):
            if watch.fired:
                raise DeadlineExceededError from None
            raise
