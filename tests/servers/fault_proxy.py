"""A fault-injecting HTTP(S) proxy: put it between a client and a real server.

The client is pointed at the proxy (``proxy.host``) instead of the server; every
request is forwarded unchanged (same method, path, query, headers and body) and
the answer relayed unchanged, unless a rule matches. Rules match by method and a
path regex (the path includes the query) and apply to the next ``times``
matching requests:

* ``status``: answer with that status (and ``Retry-After`` when given) without
  forwarding;
* ``reset``: close the client connection with a TCP RST (``SO_LINGER`` 0);
* ``stall``: hold the request for ``seconds`` (longer than the client's timeout),
  then close the connection without an answer;
* ``delay``: hold the request for ``seconds``, then forward it (a slow server: the
  way to make concurrent requests overtake each other deterministically);
* ``edit``: forward, then let ``edit(answer)`` rewrite the answer's status, headers and
  body before it is relayed (a hostile registry: redirects, Link and Location headers
  to other hosts, malformed lengths, huge or deeply nested bodies);
* ``trickle``: forward, then send the answer one byte every ``seconds`` (a peer that
  keeps a connection alive without ever finishing).

With ``after_forward=True`` the request reaches the server first and only the
answer is replaced by the fault: the write happened, the client cannot know.

Every request is recorded (method, path, what happened) so tests can count them.
For an HTTPS upstream (the local Key Vault) the proxy terminates TLS with its
own throwaway CA (``proxy.ca_file``) and, with ``rewrite_urls=True``, replaces
the upstream origin by its own in response bodies (Key Vault answers carry
absolute key ids). Plain-http upstreams (docker-registry with ``relativeurls``)
need no rewriting and get none.

    with FaultProxy(registry.url) as proxy:
        proxy.fail(503, method="GET", path=r"/manifests/", times=2)
        ...
        assert proxy.count("GET", r"/manifests/") == 3
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from tests.servers.loopback import (
    BackgroundServer,
    FaultyHandler,
    LoopbackHTTPServer,
    server_tls_context,
)

Action = Literal["status", "reset", "stall", "delay", "edit", "trickle"]
Outcome = Literal[
    "forwarded", "status", "reset", "stall", "delay", "edit", "trickle", "upstream-error"
]


@dataclass
class Answer:
    """An upstream answer as the proxy is about to relay it (``edit`` rules change it)."""

    status: int
    headers: list[tuple[str, str]]
    content: bytes
    reason: str = ""

    def header(self, name: str, value: str | None) -> None:
        """Set (or with None remove) a header, replacing every field of that name."""
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        if value is not None:
            self.headers.append((name, value))


Editor = Callable[[Answer], None]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_UPSTREAM_TIMEOUT = 30.0


@dataclass
class Rule:
    method: str | None
    path: re.Pattern[str]
    action: Action
    remaining: int
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    after_forward: bool = False
    code: str | None = None  # the distribution-spec error code of a "status" answer
    edit: Editor | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method == method)
            and self.path.search(path) is not None
        )


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    outcome: Outcome
    status: int | None  # what the client got (None: no answer)


class FaultProxy(BackgroundServer):
    def __init__(
        self,
        upstream: str,
        *,
        upstream_ca: str | Path | None = None,
        tls: bool | None = None,
        rewrite_urls: bool = False,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
            raise ValueError(f"upstream must be http(s)://host:port, not {upstream!r}")
        self.upstream = f"{parts.scheme}://{parts.hostname}:{parts.port}"
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port
        self._upstream_tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._upstream_tls = ssl.create_default_context(
                cafile=str(upstream_ca) if upstream_ca else None
            )
        self.tls = parts.scheme == "https" if tls is None else tls
        self.rewrite_urls = rewrite_urls
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: Path | None = None
        self._rules: list[Rule] = []
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # --- lifecycle --------------------------------------------------------------------

    thread_name = "fault-proxy"

    def make_server(self) -> LoopbackHTTPServer:
        context = None
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="fault-proxy-")
            self.ca_file = Path(self._tmp.name) / "proxy-ca.pem"
            context = server_tls_context(Path(self._tmp.name), self.ca_file)
        handler = type("BoundProxyHandler", (_Handler,), {"proxy": self})
        # resets and hung-up clients are what this server is for: no tracebacks
        return LoopbackHTTPServer(handler, context=context, quiet=True)

    def stop(self) -> None:
        self._stopping.set()  # releases stalled requests
        super().stop()

    def after_stop(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    # --- rules ------------------------------------------------------------------------

    def add_rule(
        self,
        action: Action,
        *,
        method: str | None = None,
        path: str = "",
        times: int = 1,
        status: int = 503,
        retry_after: str | int | None = None,
        seconds: float = 0.0,
        after_forward: bool = False,
        code: str | None = None,
        edit: Editor | None = None,
    ) -> Rule:
        rule = Rule(
            method=method.upper() if method else None,
            path=re.compile(path),
            action=action,
            remaining=times,
            status=status,
            retry_after=None if retry_after is None else str(retry_after),
            seconds=seconds,
            after_forward=after_forward,
            code=code,
            edit=edit,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def edit(
        self, edit: Editor, *, method: str | None = None, path: str = "", times: int = 1
    ) -> Rule:
        """Rewrite the answers to the next ``times`` matching requests with ``edit``."""
        return self.add_rule("edit", method=method, path=path, times=times, edit=edit)

    def trickle(
        self, seconds: float, *, method: str | None = None, path: str = "", times: int = 1
    ) -> Rule:
        """Relay the next ``times`` matching answers one byte every ``seconds``."""
        return self.add_rule("trickle", method=method, path=path, times=times, seconds=seconds)

    def fail(
        self,
        status: int,
        *,
        method: str | None = None,
        path: str = "",
        times: int = 1,
        retry_after: str | int | None = None,
        after_forward: bool = False,
        code: str | None = None,
    ) -> Rule:
        """Answer the next ``times`` matching requests with ``status`` (and error ``code``)."""
        return self.add_rule(
            "status",
            method=method,
            path=path,
            times=times,
            status=status,
            retry_after=retry_after,
            after_forward=after_forward,
            code=code,
        )

    def reset(
        self,
        *,
        method: str | None = None,
        path: str = "",
        times: int = 1,
        after_forward: bool = False,
    ) -> Rule:
        """Reset the connection of the next ``times`` matching requests."""
        return self.add_rule(
            "reset", method=method, path=path, times=times, after_forward=after_forward
        )

    def stall(
        self,
        seconds: float,
        *,
        method: str | None = None,
        path: str = "",
        times: int = 1,
        after_forward: bool = False,
    ) -> Rule:
        """Hold the next ``times`` matching requests for ``seconds``, then hang up."""
        return self.add_rule(
            "stall",
            method=method,
            path=path,
            times=times,
            seconds=seconds,
            after_forward=after_forward,
        )

    def delay(
        self, seconds: float, *, method: str | None = None, path: str = "", times: int = 1
    ) -> Rule:
        """Hold the next ``times`` matching requests for ``seconds``, then forward them."""
        return self.add_rule("delay", method=method, path=path, times=times, seconds=seconds)

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def _take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    rule.hits += 1
                    return rule
        return None

    # --- what was seen ----------------------------------------------------------------

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def clear_seen(self) -> None:
        with self._lock:
            self._seen.clear()

    def count(
        self, method: str | None = None, path: str | None = None, outcome: Outcome | None = None
    ) -> int:
        pattern = re.compile(path) if path is not None else None
        return sum(
            1
            for s in self.seen
            if (method is None or s.method == method)
            and (pattern is None or pattern.search(s.path))
            and (outcome is None or s.outcome == outcome)
        )

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    # --- forwarding -------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self._upstream_tls is not None:
            return http.client.HTTPSConnection(
                self._upstream_host,
                self._upstream_port,
                timeout=_UPSTREAM_TIMEOUT,
                context=self._upstream_tls,
            )
        return http.client.HTTPConnection(
            self._upstream_host, self._upstream_port, timeout=_UPSTREAM_TIMEOUT
        )

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """One request upstream on a fresh connection; the whole answer, de-chunked."""
        conn = self._connect()
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            content = response.read()
            return response.status, response.reason, response.getheaders(), content
        finally:
            conn.close()

    def rewrite(self, content: bytes) -> bytes:
        if not self.rewrite_urls:
            return content
        return content.replace(self.upstream.encode(), self.url.encode())

    def wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


class _Handler(FaultyHandler):
    proxy: FaultProxy
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        method, path = self.command, self.path
        body = self._read_body()
        rule = self.proxy._take(method, path)
        relaying = rule is not None and rule.action in ("edit", "trickle")
        if rule is not None and rule.action == "delay":
            self.proxy.wait(rule.seconds)
        elif rule is not None and not rule.after_forward and not relaying:
            self._apply(rule, method, path)
            return
        try:
            status, reason, headers, content = self.proxy.forward(
                method, path, list(self.headers.items()), body
            )
        except (OSError, http.client.HTTPException) as exc:
            self.proxy._record(Seen(method, path, "upstream-error", 502))
            self._send_error(502, f"upstream: {type(exc).__name__}", None)
            return
        if rule is not None and rule.action not in ("delay", "edit", "trickle"):
            self._apply(rule, method, path)
            return
        # Content-Length is computed on the way out unless an edit sets one on purpose
        kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
        answer = Answer(status, kept, content, reason)
        if rule is not None and rule.edit is not None:
            rule.edit(answer)
        outcome: Outcome = rule.action if rule is not None else "forwarded"
        self.proxy._record(Seen(method, path, outcome, answer.status))
        trickle = rule.seconds if rule is not None and rule.action == "trickle" else 0.0
        self._relay(method, answer, trickle)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_MERGE = _serve  # noqa: N815

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(chunks)
                chunks += self.rfile.read(size)
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.rfile.read(int(length)) if int(length) else b""

    def _apply(self, rule: Rule, method: str, path: str) -> None:
        if rule.action == "status":
            self.proxy._record(Seen(method, path, "status", rule.status))
            self._send_error(
                rule.status, "injected by the fault proxy", rule.retry_after, rule.code
            )
        elif rule.action == "reset":
            self.proxy._record(Seen(method, path, "reset", None))
            self.reset_connection()
        else:
            self.proxy._record(Seen(method, path, "stall", None))
            self.proxy.wait(rule.seconds)
            self.close_connection = True

    def _relay(self, method: str, answer: Answer, trickle: float = 0.0) -> None:
        """The answer as edited; an edit that sets Content-Length keeps its own value."""
        self.send_response_only(answer.status, answer.reason or None)
        own_length = next((v for k, v in answer.headers if k.lower() == "content-length"), None)
        for name, value in answer.headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP or (lower == "content-length" and method != "HEAD"):
                continue
            self.send_header(name, value)
        content = answer.content
        if method != "HEAD":
            content = self.proxy.rewrite(content)
            self.send_header("Content-Length", own_length or str(len(content)))
        self.end_headers()
        if method == "HEAD":
            return
        if not trickle:
            self.wfile.write(content)
            return
        for i in range(len(content)):
            if self.proxy._stopping.is_set():
                return
            self.wfile.write(content[i : i + 1])
            self.wfile.flush()
            self.proxy.wait(trickle)

    def _send_error(
        self, status: int, message: str, retry_after: str | None, code: str | None = None
    ) -> None:
        code = code or {429: "TOOMANYREQUESTS"}.get(status, "UNAVAILABLE")
        data = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
