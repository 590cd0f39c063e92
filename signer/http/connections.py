"""Pooled ``http.client`` connections: the transport under ``HttpClient``.

urllib3's pool manager, connection pool and response wrapper cost about 0.45 ms of CPU
per request on top of ``http.client`` (measured on loopback: 0.73 ms against 0.29 ms a
keep-alive GET), and a signature makes seven such requests. What the signer needs of
that layer is small and lives here: one pool of idle keep-alive connections per (origin,
route), a stale connection dropped before reuse, separate connect and read timeouts,
TLS verified against the environment's roots (``ssl.create_default_context``: hostname
checked, TLS 1.2 at least), and an ``http://`` proxy from the environment, in absolute
form for plain http and through a ``CONNECT`` tunnel for https, as requests and Go do.

Everything above the socket (framing, chunked bodies, header limits) is the stdlib's
``http.client``, which urllib3 itself builds on. Each new socket is reported to the
attempt's deadline (``watchdog.watch``), so a peer that trickles bytes is cut off.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import select
import socket
import ssl
import threading
import time
from collections import OrderedDict
from functools import lru_cache

from signer.http.environment import Route, TrustRoots
from signer.http.urls import Origin, origin_of
from signer.http.watchdog import watch

_log = logging.getLogger(__name__)
MAX_POOLS = 16  # origins kept warm; the least recently used is closed beyond that


class ProxyConnectError(OSError):
    """The proxy from the environment refused or failed the connection (no detail kept:
    its answer is not ours to echo)."""


_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_MAX_LINE: int = http.client._MAXLINE  # type: ignore[attr-defined]  # the stdlib's own line limit


class Response(http.client.HTTPResponse):
    """``http.client``'s answer, stricter where it trusts the peer too far."""

    def _read_status(self) -> tuple[str, int, str]:
        # interim answers (102, 103, ...) come before the final one; http.client skips
        # only 100, and would take a 103 for the answer (and the real one for the next's)
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            http.client._read_headers(self.fp)  # type: ignore[attr-defined]

    def begin(self) -> None:
        super().begin()
        if self.status in (204, 304) or self._method == "HEAD":  # type: ignore[attr-defined]
            self.chunked = False  # no body, whatever its framing headers say (RFC 9112 6.3)

    def _read_next_chunk_size(self) -> int:
        # int(line, 16) also takes "-1", "+1", "0x10" and "1_0": a negative size made the
        # stdlib read to the end of the stream, past every cap
        line = self.fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("chunk size")
        size = line.split(b";", 1)[0].strip(b" \t\r\n")
        if not _CHUNK_SIZE.fullmatch(size):
            self._close_conn()  # type: ignore[attr-defined]
            raise ValueError("malformed chunk size")
        return int(size, 16)


class Connection(http.client.HTTPConnection):
    """Connect timeout for the TCP set-up, the tunnel and the TLS handshake together, the
    read timeout after; every socket is reported to the attempt's deadline once it
    exists, the TLS socket before its handshake."""

    response_class = Response

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float,
        proxied: bool,
        tls: tuple[ssl.SSLContext, str] | None = None,
        tunnel: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(host, port, timeout=connect_timeout)
        self.connect_timeout = connect_timeout
        self.read_timeout = connect_timeout
        self._proxied = proxied
        self._tls = tls  # (context, the name the certificate must carry)
        self._target = tunnel
        if tunnel is not None:
            self.set_tunnel(*tunnel)  # the Host header names the target, not the proxy

    def connect(self) -> None:
        ends = time.monotonic() + self.connect_timeout  # one budget for every step of the set-up
        try:
            self.sock = sock = _open(self.host, self.port, ends)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._target is not None:
                self._connect_tunnel(*self._target)
        except TimeoutError:
            raise
        except OSError as exc:
            if self._proxied:  # refused by, unreachable through or failed by the proxy
                raise ProxyConnectError(type(exc).__name__) from None
            raise
        if self._tls is not None:
            context, name = self._tls
            tls = context.wrap_socket(
                sock,
                server_hostname=name,
                do_handshake_on_connect=False,
                suppress_ragged_eofs=False,  # a TLS answer cut short is not complete
            )
            self.sock = tls
            watch(tls)  # the raw socket is detached now: the deadline must see this one
            tls.settimeout(_remaining(ends))
            tls.do_handshake()
        self.sock.settimeout(self.read_timeout)

    def _connect_tunnel(self, host: str, port: int) -> None:
        """CONNECT through the proxy; an IPv6 literal in brackets (RFC 9110 7.2), which
        Python 3.11's own tunnel leaves out before 3.11.9."""
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.send(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("ascii"))
        answer = http.client.HTTPResponse(self.sock, method="CONNECT")
        try:
            _, status, _ = answer._read_status()  # type: ignore[attr-defined]
            if status != 200:
                raise ProxyConnectError(f"CONNECT answered {status}")
            http.client._read_headers(answer.fp)  # type: ignore[attr-defined]
        finally:
            answer.close()


def _remaining(ends: float) -> float:
    left = ends - time.monotonic()
    if left <= 0:
        raise TimeoutError("connection set-up ran out of time")
    return left


def _open(host: str, port: int, ends: float) -> socket.socket:
    """``socket.create_connection`` within one budget for every address (it gives each
    address the whole timeout), each socket under the attempt's deadline."""
    error: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        watch(sock)
        try:
            sock.settimeout(_remaining(ends))
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            if isinstance(exc, TimeoutError):
                raise
            error = exc
    raise error or OSError(f"no address for {host[:80]}")


def tls_context(roots: TrustRoots, verify: bool) -> ssl.SSLContext:
    """One context per trust roots and their files' state: loading a bundle costs
    milliseconds, and a bundle replaced on disk is read again (as a new connection of
    requests' would)."""
    return _context(roots, verify, _state(roots.cafile), _state(roots.capath))


def _state(path: str | None) -> tuple[int, int] | None:
    try:
        info = os.stat(path) if path else None
    except OSError:
        return None
    return None if info is None else (info.st_mtime_ns, info.st_size)


@lru_cache(maxsize=32)
def _context(roots: TrustRoots, verify: bool, *state: tuple[int, int] | None) -> ssl.SSLContext:
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=roots.cafile, capath=roots.capath)
        # the name must be in subjectAltName, as Go (notation), urllib3 and browsers check
        context.hostname_checks_common_name = False
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _dropped(sock: socket.socket | None) -> bool:
    """An idle keep-alive connection is unusable when its peer has closed it or sent
    something unasked: the socket polls readable, or TLS holds bytes already read."""
    if sock is None or sock.fileno() < 0:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _Pool:
    """Idle connections to one origin by one route, most recently used first."""

    def __init__(self, origin: Origin, route: Route, *, size: int, verify: bool) -> None:
        self.origin = origin
        self.route = route
        self._size = size
        self._verify = verify
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._proxy = origin_of(route.proxy) if route.proxy is not None else None

    def request_target(self, path: str, url: str) -> str:
        """What goes on the request line: the path, or the absolute URL to a proxy."""
        return url if self._proxy is not None and self.origin.scheme == "http" else path

    def take(self, connect_timeout: float, read_timeout: float) -> Connection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._new(connect_timeout)
                break
            if not _dropped(conn.sock):
                watch(conn.sock)
                break
            conn.close()
        conn.read_timeout = read_timeout
        if conn.sock is not None:
            conn.sock.settimeout(read_timeout)
        return conn

    def give_back(self, conn: Connection) -> None:
        if conn.sock is None:
            return
        with self._lock:
            if len(self._idle) < self._size:
                self._idle.append(conn)
                return
        _log.warning("Connection pool is full, discarding connection: %s", self.origin)
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _new(self, connect_timeout: float) -> Connection:
        origin, proxy = self.origin, self._proxy
        host, port = (origin.host, origin.port) if proxy is None else (proxy.host, proxy.port)
        proxied = proxy is not None
        _log.debug("new connection to %s%s", origin, f" through {proxy}" if proxied else "")
        if origin.scheme == "http":
            return Connection(host, port, connect_timeout=connect_timeout, proxied=proxied)
        return Connection(
            host,
            port,
            connect_timeout=connect_timeout,
            proxied=proxied,
            tls=(tls_context(self.route.roots, self._verify), origin.host),
            tunnel=(origin.host, origin.port) if proxied else None,
        )


class Pools:
    """The pools of one ``HttpClient``: thread-safe, bounded to ``MAX_POOLS`` origins."""

    def __init__(self, *, size: int, verify: bool) -> None:
        self._size = size
        self._verify = verify
        self._pools: OrderedDict[tuple[Origin, Route], _Pool] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, origin: Origin, route: Route) -> _Pool:
        key = (origin, route)
        evicted: _Pool | None = None
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = _Pool(origin, route, size=self._size, verify=self._verify)
                self._pools[key] = pool
                if len(self._pools) > MAX_POOLS:
                    _, evicted = self._pools.popitem(last=False)
            else:
                self._pools.move_to_end(key)
        if evicted is not None:
            evicted.close()
        return pool

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            pool.close()
