"""One HTTP exchange at a time, safely: the client every non-SDK call goes through.

``HttpClient.exchange`` sends one request and reads the whole answer under a size cap
and a hard deadline, following redirects of GET/HEAD by hand (at most
``MAX_REDIRECTS``, each target checked; the ``Authorization`` header is dropped when a
redirect leaves the origin it was meant for). Anything that goes wrong is an
``TransportError`` whose ``kind`` says whether retrying can help; callers turn it into
their own errors. Connections (``connections.py``) are pooled per (origin, proxy, CA
bundle), so a changed environment takes effect for the next request.
"""

from __future__ import annotations

import enum
import http.client
import logging
import re
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from signer.http.connections import Connection, Pools, ProxyConnectError
from signer.http.environment import Route, TrustRoots, route
from signer.http.urls import Origin, UnsafeUrlError, origin_of, resolve
from signer.http.watchdog import deadline

_log = logging.getLogger(__name__)
MAX_REDIRECTS = 5
DEFAULT_BODY_LIMIT = 4 * 1024 * 1024
ERROR_BODY_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DIGITS = re.compile(r"[0-9]{1,15}\Z")
# RFC 9110 field-value: visible ASCII, space and tab; no CR/LF, no NUL, nothing non-ASCII
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*\Z")
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


class FailureKind(enum.Enum):
    TIMEOUT = "timeout"  # connect/read timeout or the attempt's deadline: transient
    CONNECTION = "connection"  # refused, reset, closed mid-answer: transient
    TLS = "tls"  # handshake or certificate verification failed
    TOO_LARGE = "too_large"  # a success body over the caller's cap
    PROTOCOL = "protocol"  # a malformed answer (headers, length, redirects)
    UNSAFE = "unsafe"  # a URL or header this client refuses to send

    @property
    def transient(self) -> bool:
        return self in (FailureKind.TIMEOUT, FailureKind.CONNECTION)


class TransportError(Exception):
    """One attempt failed; ``str()`` is safe to log (no URL query, no header value)."""

    def __init__(self, kind: FailureKind, detail: str, size: int | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.size = size  # TOO_LARGE: the announced size, when the peer announced one


class Headers(Mapping[str, str]):
    """An answer's header fields: names case-insensitive, repeated fields joined with
    ", " (as urllib3's HTTPHeaderDict and RFC 9110 5.3), the first spelling kept."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: dict[str, tuple[str, str]] = {}
        for name, value in fields:
            key = name.lower()
            known = self._fields.get(key)
            self._fields[key] = (
                (name, value) if known is None else (known[0], f"{known[1]}, {value}")
            )

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({list(self._fields.values())!r})"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # case-insensitive; repeated fields joined with ", "
    content: bytes
    url: str  # the URL that answered (after redirects)


def parse_decimal(value: str | None) -> int | None:
    """A header's non-negative decimal integer, ASCII digits only (``²`` is not a digit)."""
    if value is None:
        return None
    text = value.strip()
    return int(text) if _DIGITS.match(text) else None


def check_headers(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if (
            not _FIELD_NAME.match(name)
            or not isinstance(value, str)
            or not _FIELD_VALUE.match(value)
        ):
            raise TransportError(
                FailureKind.UNSAFE, f"refusing to send header {name[:40]!r}: invalid characters"
            )


class HttpClient:
    """Thread-safe; build one per service and share it (connections are pooled)."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        pool_size: int = 32,
        user_agent: str = "acr-notary-signer",
        tls_verify: bool | str = True,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> None:
        """``timeout`` is the hard deadline of one exchange (redirects included);
        ``connect_timeout``/``read_timeout`` bound each socket wait inside it, as azure-core's
        ``connection_timeout``/``read_timeout`` do (default: the deadline).

        ``tls_verify``: True trusts the environment's CA bundle (see environment.py), a
        path trusts that PEM bundle instead (as azure-core's ``connection_verify``), False
        verifies nothing (never in production; local stand-ins only)."""
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self._connect_timeout = connect_timeout or timeout
        self._read_timeout = read_timeout or timeout
        self._tls_roots = TrustRoots(tls_verify, None) if isinstance(tls_verify, str) else None
        self._user_agent = user_agent
        self._pools = Pools(size=pool_size, verify=tls_verify is not False)

    def close(self) -> None:
        self._pools.close()

    def _route(self, origin: Origin) -> Route:
        way = route(origin.scheme, origin.netloc)
        if self._tls_roots is not None:
            way = Route(way.proxy, self._tls_roots)
        if way.proxy is not None:
            try:
                proxy = origin_of(way.proxy)
            except UnsafeUrlError as exc:
                raise TransportError(
                    FailureKind.UNSAFE, f"proxy from the environment: {exc}"
                ) from None
            if proxy.scheme != "http":
                raise TransportError(
                    FailureKind.UNSAFE,
                    "proxy from the environment: only http:// proxies are supported",
                )
        return way

    def exchange(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        max_body: int = DEFAULT_BODY_LIMIT,
        follow_redirects: bool | None = None,
        timeout: float | None = None,
    ) -> HttpResponse:
        """One request (plus redirects), the whole answer read; TransportError on any failure.

        ``timeout`` shortens this exchange's deadline below the client's (a caller with a
        budget of its own across several attempts)."""
        send_headers = {
            "User-Agent": self._user_agent,
            "Accept-Encoding": "identity",
            **(headers or {}),
        }
        check_headers(send_headers)
        follow = method in ("GET", "HEAD") if follow_redirects is None else follow_redirects
        try:
            first = origin_of(url)
        except UnsafeUrlError as exc:
            raise TransportError(FailureKind.UNSAFE, str(exc)) from None
        current, target = url, first
        budget = self.timeout if timeout is None else min(self.timeout, timeout)
        ends = time.monotonic() + budget  # one deadline for the request and its redirects
        for _ in range(MAX_REDIRECTS + 1):
            response = self._once(
                method,
                current,
                target,
                headers=send_headers,
                body=body,
                max_body=max_body,
                seconds=ends - time.monotonic(),
            )
            if not follow or response.status not in _REDIRECTS:
                return response
            location = response.headers.get("Location")
            if not location:
                raise TransportError(
                    FailureKind.PROTOCOL, f"HTTP {response.status} without Location"
                )
            try:
                current = resolve(current, location)
                target = origin_of(current)
            except UnsafeUrlError as exc:
                raise TransportError(FailureKind.UNSAFE, f"redirect refused: {exc}") from None
            if first.scheme == "https" and target.scheme != "https":
                raise TransportError(FailureKind.UNSAFE, "redirect refused: https to plain http")
            if target != first:
                # credentials are for the origin they were meant for, nowhere else
                send_headers = {
                    k: v for k, v in send_headers.items() if k.lower() != "authorization"
                }
        raise TransportError(FailureKind.PROTOCOL, f"more than {MAX_REDIRECTS} redirects")

    def _once(
        self,
        method: str,
        url: str,
        origin: Origin,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        max_body: int,
        seconds: float,
    ) -> HttpResponse:
        if seconds <= 0:
            raise _out_of_time(self.timeout)
        pool = self._pools.get(origin, self._route(origin))
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: Connection | None = None
        raw: http.client.HTTPResponse | None = None
        response: HttpResponse | None = None
        failure: Exception | None = None
        reusable = False
        with deadline(seconds) as attempt:
            try:
                conn = pool.take(
                    min(seconds, self._connect_timeout), min(seconds, self._read_timeout)
                )
                conn.request(method, pool.request_target(path, url), body=body, headers=headers)
                raw = conn.getresponse()
                response = self._read(method, url, raw, max_body)
                # a 101 switched the connection to another protocol: never reused
                reusable = raw.isclosed() and not raw.will_close and raw.status >= 200
                # the path without its query (a SAS or a state token may ride there)
                _log.debug("%s %s%s: %d", method, origin, parts.path, raw.status)
            except Exception as exc:  # hostile peers: every failure becomes an TransportError
                failure = exc
        # the deadline is disarmed: the watchdog touches nothing of this attempt any more,
        # so a connection given back to the pool can no longer be shut down under another
        if conn is not None:
            if reusable and failure is None and not attempt.expired:
                pool.give_back(conn)
            else:
                if raw is not None:
                    raw.close()
                conn.close()
        if attempt.expired:  # the socket was shut down: what was read may be cut short
            raise _out_of_time(self.timeout)
        if isinstance(failure, TransportError):
            raise failure
        if failure is not None or response is None:
            raise _failure(failure or RuntimeError("no answer")) from None
        return response

    @staticmethod
    def _read(method: str, url: str, raw: http.client.HTTPResponse, max_body: int) -> HttpResponse:
        status = raw.status
        headers = Headers(raw.msg.raw_items())  # the fields as parsed, unprocessed
        if method == "HEAD":
            raw.read()  # nothing to read: marks the answer complete, the connection reusable
            return HttpResponse(status, headers, b"", url)
        ok = 200 <= status < 300
        limit = max_body if ok else ERROR_BODY_LIMIT
        announced = headers.get("Content-Length")
        length = parse_decimal(announced)
        if announced is not None and length is None:
            raise TransportError(FailureKind.PROTOCOL, "malformed Content-Length in the answer")
        if ok and length is not None and length > limit:
            raise TransportError(FailureKind.TOO_LARGE, f"answer of {length} bytes", size=length)
        content = bytearray()
        while True:
            chunk = raw.read(_CHUNK)
            if not chunk:
                if raw.length:  # read(amt) ends quietly at EOF, even short of the length
                    raise TransportError(FailureKind.CONNECTION, "connection closed mid-answer")
                break
            content += chunk
            if len(content) > limit:
                if ok:
                    raise TransportError(FailureKind.TOO_LARGE, f"answer over {limit} bytes")
                del content[limit:]
                break  # an error body is only read for its message; the rest is dropped
        return HttpResponse(status, headers, bytes(content), url)


def _out_of_time(seconds: float) -> TransportError:
    return TransportError(FailureKind.TIMEOUT, f"no complete answer within {seconds:g} s")


# (exception classes, kind, description) in the order they are tried
_CLASSIFIED: tuple[tuple[tuple[type[BaseException], ...], FailureKind, str], ...] = (
    # the peer closed the connection mid-handshake or mid-answer: nothing about TLS
    # itself failed (an overloaded balancer, a restart), so it may be retried
    ((ssl.SSLEOFError, ssl.SSLZeroReturnError), FailureKind.CONNECTION, "connection closed"),
    ((ssl.SSLError,), FailureKind.TLS, "TLS handshake or certificate verification failed"),
    ((ProxyConnectError,), FailureKind.CONNECTION, "the proxy from the environment failed"),
    ((TimeoutError,), FailureKind.TIMEOUT, "timed out"),
    # a keep-alive connection the peer closed between answers (RemoteDisconnected) too
    (
        (ConnectionError, http.client.RemoteDisconnected),
        FailureKind.CONNECTION,
        "connection failed",
    ),
    ((http.client.IncompleteRead,), FailureKind.CONNECTION, "connection closed mid-answer"),
    (
        (http.client.HTTPException, ValueError, UnicodeError),
        FailureKind.PROTOCOL,
        "malformed exchange",
    ),
    ((OSError,), FailureKind.CONNECTION, "connection failed"),
)


def _failure(exc: BaseException) -> TransportError:
    """A safe, classified description of a transport exception (never its message)."""
    for classes, kind, text in _CLASSIFIED:
        if isinstance(exc, classes):
            return TransportError(kind, f"{text} ({type(exc).__name__})")
    return TransportError(FailureKind.PROTOCOL, f"unexpected failure ({type(exc).__name__})")
