"""One HTTP exchange at a time, safely: the client every non-SDK call goes through.

``HttpClient.exchange`` sends one request and reads the whole answer under a size cap
and a hard deadline, following redirects of GET/HEAD by hand (at most
``MAX_REDIRECTS``, each target checked; the ``Authorization`` header is dropped when a
redirect leaves the origin it was meant for). Anything that goes wrong is an
``TransportError`` whose ``kind`` says whether retrying can help; callers turn it into
their own errors. Pools are kept per (proxy, CA bundle), so a changed environment
takes effect for new connections.
"""

from __future__ import annotations

import enum
import http.client
import re
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    SSLError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3TimeoutError,
)

from signer.http.environment import Route, TrustRoots, route
from signer.http.urls import Origin, UnsafeUrlError, origin_of, resolve
from signer.http.watchdog import POOL_CLASSES, deadline

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
        self._tls_verify = tls_verify
        self._pool_size = pool_size
        self._user_agent = user_agent
        self._managers: dict[Route, urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            managers, self._managers = list(self._managers.values()), {}
        for manager in managers:
            manager.clear()

    def _manager(self, origin: Origin) -> urllib3.PoolManager:
        key = route(origin.scheme, origin.netloc)
        manager = self._managers.get(key)
        if manager is not None:
            return manager
        with self._lock:
            manager = self._managers.get(key)
            if manager is None:
                manager = self._build(key.proxy, key.roots)
                self._managers[key] = manager
            return manager

    def _build(self, proxy: str | None, roots: TrustRoots) -> urllib3.PoolManager:
        if isinstance(self._tls_verify, str):
            roots = TrustRoots(self._tls_verify, None)
        options: dict[str, Any] = {
            "num_pools": 8,
            "maxsize": self._pool_size,
            "cert_reqs": ssl.CERT_REQUIRED if self._tls_verify is not False else ssl.CERT_NONE,
            "ca_certs": roots.cafile,
            "ca_cert_dir": roots.capath,
            "retries": False,
        }
        if proxy is None:
            manager: urllib3.PoolManager = urllib3.PoolManager(**options)
        else:
            try:
                origin_of(proxy)
            except UnsafeUrlError as exc:
                raise TransportError(
                    FailureKind.UNSAFE, f"proxy from the environment: {exc}"
                ) from None
            manager = urllib3.ProxyManager(proxy, **options)
        manager.pool_classes_by_scheme = POOL_CLASSES
        return manager

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
        manager = self._manager(origin)
        timeout = urllib3.Timeout(
            connect=min(seconds, self._connect_timeout), read=min(seconds, self._read_timeout)
        )
        with deadline(seconds) as attempt:
            raw: urllib3.BaseHTTPResponse | None = None
            try:
                raw = manager.urlopen(
                    method,
                    url,
                    body=body,
                    headers=dict(headers),
                    timeout=timeout,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    decode_content=False,
                )
                response = self._read(method, url, raw, max_body)
            except Exception as exc:  # hostile peers: every failure becomes an TransportError
                if attempt.expired:
                    raise _out_of_time(self.timeout) from None
                if isinstance(exc, TransportError):
                    raise
                raise _failure(exc) from None
            finally:
                if raw is not None:
                    raw.release_conn()
            if attempt.expired:  # the socket was shut down: what was read may be cut short
                raise _out_of_time(self.timeout)
            return response

    @staticmethod
    def _read(method: str, url: str, raw: urllib3.BaseHTTPResponse, max_body: int) -> HttpResponse:
        status = raw.status
        headers = raw.headers  # the response is discarded: no copy needed
        if method == "HEAD":
            raw.drain_conn()
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
                break
            content += chunk
            if len(content) > limit:
                if ok:
                    raise TransportError(FailureKind.TOO_LARGE, f"answer over {limit} bytes")
                del content[limit:]
                raw.close()  # an error body is only read for its message; drop the rest
                break
        return HttpResponse(status, headers, bytes(content), url)


def _out_of_time(seconds: float) -> TransportError:
    return TransportError(FailureKind.TIMEOUT, f"no complete answer within {seconds:g} s")


# (exception classes, kind, description) in the order they are tried
_CLASSIFIED: tuple[tuple[tuple[type[BaseException], ...], FailureKind, str], ...] = (
    ((SSLError, ssl.SSLError), FailureKind.TLS, "TLS handshake or certificate verification failed"),
    ((ProxyError,), FailureKind.CONNECTION, "the proxy from the environment failed"),
    # before the timeouts: urllib3's NewConnectionError (refused, unreachable) subclasses
    # ConnectTimeoutError for compatibility, but nothing timed out
    ((NewConnectionError,), FailureKind.CONNECTION, "connection failed"),
    ((Urllib3TimeoutError, TimeoutError), FailureKind.TIMEOUT, "timed out"),
    (
        (ConnectionError, ProtocolError),
        FailureKind.CONNECTION,
        "connection failed",
    ),
    (
        (http.client.HTTPException, HTTPError, ValueError, UnicodeError),
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
