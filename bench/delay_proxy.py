"""A TCP proxy that adds round-trip time and records every exchange (its own process).

Each remote the signer talks to (registry, Blob, Table, Key Vault, managed identity, a TSA)
gets a listener on loopback that forwards bytes unchanged, so HTTPS stays end to end. Every
chunk waits RTT/2 in each direction, in order, so a request/response exchange costs one
RTT, and a new connection costs one more before its first byte reaches the server (the
kernel completes the client's connect at once; the proxy holds its data as if the
SYN/SYN-ACK had crossed the distance): a TLS connection's first request costs 3 RTT, as
over a WAN.

Runs in its own process (its CPU is nobody's under test), on an asyncio loop with the
``select`` selector: epoll rounds timeouts up to whole milliseconds, select does not.

Protocol: the first line of the config file (argv[1]) is JSON ``{"listeners": {name:
upstream_port}, "rtt_ms": float}``; the process prints ``{"ports": {name: port}}`` on stdout
and then answers one JSON line per JSON command on stdin:
  ``{"op": "rtt", "ms": 5}``           the delay from now on (between phases, when idle)
  ``{"op": "record", "on": true}``     keep exchanges from now on (off: forget nothing kept)
  ``{"op": "dump", "path": "f.json"}`` write the kept exchanges there and forget them
End of stdin stops it. Times are ``time.monotonic()``: the same clock in every process.
"""

from __future__ import annotations

import asyncio
import json
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

_CHUNK = 65536
_LABEL_BYTES = 4096
_HEAD_BYTES = 8192
_MAX_LEAD = 0.001


@dataclass
class Exchange:
    """One burst of client bytes and the server's answer, on one connection."""

    remote: str
    connection: int
    start: float  # when the first client byte would have left the client over the WAN
    request: str
    end: float | None = None  # when the last answer byte reached the client
    response: str = ""
    up: int = 0
    down: int = 0

    def to_json(self) -> list[Any]:
        end = self.end if self.end is not None else self.start
        return [
            self.remote,
            self.connection,
            round(self.start, 6),
            round(end, 6),
            self.request,
            self.response,
            self.up,
            self.down,
        ]


def label(chunk: bytes) -> str:
    """An HTTP start line, or what kind of TLS record a burst opens with."""
    if chunk[:1] in (b"\x14", b"\x15", b"\x16", b"\x17") and chunk[1:2] == b"\x03":
        kinds = {0x14: "change cipher spec", 0x15: "alert", 0x16: "handshake", 0x17: "data"}
        return f"TLS {kinds[chunk[0]]}"
    head = chunk[:_HEAD_BYTES].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    line = head[0][:_LABEL_BYTES].decode("latin-1")
    for header in head[1:]:  # a blob lease's action is only in a header
        name, _, value = header.partition(b":")
        if name.strip().lower() == b"x-ms-lease-action":
            return f"{line} [{value.strip().decode('latin-1')}]"
    return line


@dataclass
class _Connection:
    ident: int
    remote: str
    accepted: float
    current: Exchange | None = None
    client_spoke_last: bool = False


@dataclass
class Proxy:
    upstreams: dict[str, int]
    rtt: float  # seconds
    recording: bool = False
    kept: list[Exchange] = field(default_factory=list)
    connections: list[tuple[str, int, float]] = field(default_factory=list)
    _next_id: int = 0
    _late: float = 0.0  # how late sleeps wake, on average (seconds)

    async def serve(self) -> dict[str, int]:
        ports = {}
        for name, upstream in self.upstreams.items():
            server = await asyncio.start_server(self._acceptor(name, upstream), "127.0.0.1", 0)
            ports[name] = int(server.sockets[0].getsockname()[1])
        return ports

    def _acceptor(
        self, name: str, upstream: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await self._accept(name, upstream, reader, writer)
            except asyncio.CancelledError:  # shutting down
                writer.close()

        return accept

    def _keep(self, exchange: Exchange) -> None:
        if self.recording:
            self.kept.append(exchange)

    async def _accept(
        self,
        name: str,
        upstream: int,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._next_id += 1
        conn = _Connection(self._next_id, name, loop.time())
        if self.recording:
            self.connections.append((name, conn.ident, round(conn.accepted, 6)))
            self.kept.append(
                Exchange(name, conn.ident, conn.accepted, "TCP connect", conn.accepted + self.rtt)
            )
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()
            return
        up: asyncio.Queue[tuple[float, bytes | None, Exchange | None]] = asyncio.Queue()
        down: asyncio.Queue[tuple[float, bytes | None, Exchange | None]] = asyncio.Queue()
        tasks = [
            asyncio.create_task(self._read_client(conn, client_reader, up)),
            asyncio.create_task(self._write(server_writer, up, final=False)),
            asyncio.create_task(self._read_server(conn, server_reader, down)),
            asyncio.create_task(self._write(client_writer, down, final=True)),
        ]
        try:
            await asyncio.gather(*tasks)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_writer, server_writer):
                writer.close()

    async def _read_client(
        self,
        conn: _Connection,
        reader: asyncio.StreamReader,
        queue: asyncio.Queue[tuple[float, bytes | None, Exchange | None]],
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                chunk = await reader.read(_CHUNK)
            except OSError:
                chunk = b""
            # sent no earlier than the (simulated) connect completed
            sent = max(loop.time(), conn.accepted + self.rtt)
            if chunk and not conn.client_spoke_last:
                conn.current = Exchange(conn.remote, conn.ident, sent, label(chunk))
                self._keep(conn.current)
            conn.client_spoke_last = True
            if conn.current is not None:
                conn.current.up += len(chunk)
            await queue.put((sent + self.rtt / 2, chunk or None, None))
            if not chunk:
                return

    async def _read_server(
        self,
        conn: _Connection,
        reader: asyncio.StreamReader,
        queue: asyncio.Queue[tuple[float, bytes | None, Exchange | None]],
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                chunk = await reader.read(_CHUNK)
            except OSError:
                chunk = b""
            now = loop.time()
            exchange = conn.current
            if chunk:
                if exchange is None:  # the server spoke first
                    exchange = conn.current = Exchange(conn.remote, conn.ident, now, "")
                    self._keep(exchange)
                if not exchange.response:
                    exchange.response = label(chunk)
                exchange.down += len(chunk)
                conn.client_spoke_last = False
            await queue.put((now + self.rtt / 2, chunk or None, exchange if chunk else None))
            if not chunk:
                return

    async def _write(
        self,
        writer: asyncio.StreamWriter,
        queue: asyncio.Queue[tuple[float, bytes | None, Exchange | None]],
        *,
        final: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, chunk, exchange = await queue.get()
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(max(0.0, delay - self._late))
                # a timer fires late by a fairly steady amount: aim that much early
                late = loop.time() - due
                self._late = min(_MAX_LEAD, max(0.0, self._late + 0.1 * late))
            if chunk is None:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()
            if final and exchange is not None:
                exchange.end = loop.time()

    def command(self, line: str) -> dict[str, Any]:
        request = json.loads(line)
        op = request.get("op")
        if op == "rtt":
            self.rtt = float(request["ms"]) / 1000
        elif op == "record":
            self.recording = bool(request["on"])
        elif op == "dump":
            kept, self.kept = self.kept, []
            connections, self.connections = self.connections, []
            doc = {"exchanges": [e.to_json() for e in kept], "connections": connections}
            Path(request["path"]).write_text(json.dumps(doc))
            return {"ok": True, "exchanges": len(kept)}
        else:
            return {"ok": False, "error": f"unknown op {op!r}"}
        return {"ok": True}


class DelayProxy:
    """The parent's handle on a proxy process: ``with DelayProxy({"registry": port}) as p``."""

    def __init__(self, upstreams: dict[str, int], rtt_ms: float = 0.0) -> None:
        self.upstreams = dict(upstreams)
        self.rtt_ms = rtt_ms
        self.ports: dict[str, int] = {}
        self._process: subprocess.Popen[str] | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="delay-proxy-")

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the delay proxy is not running")
        return self._process.pid

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def start(self) -> Self:
        config = Path(self._workdir.name) / "config.json"
        config.write_text(json.dumps({"listeners": self.upstreams, "rtt_ms": self.rtt_ms}))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.delay_proxy", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        first = self._line()
        self.ports = {k: int(v) for k, v in first["ports"].items()}
        return self

    def _line(self) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the delay proxy exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _send(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._process is not None
        stdin: IO[str] | None = self._process.stdin
        assert stdin is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        answer = self._line()
        if not answer.get("ok"):
            raise RuntimeError(f"delay proxy: {answer.get('error')}")
        return answer

    def set_rtt(self, ms: float) -> None:
        self._send({"op": "rtt", "ms": ms})
        self.rtt_ms = ms

    def record(self, on: bool = True) -> None:
        self._send({"op": "record", "on": on})

    def dump(self) -> dict[str, Any]:
        """The exchanges kept since the last dump (and forget them)."""
        path = Path(self._workdir.name) / "dump.json"
        self._send({"op": "dump", "path": str(path)})
        doc: dict[str, Any] = json.loads(path.read_text())
        return doc

    def stop(self) -> None:
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        self._workdir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _main(config: dict[str, Any]) -> None:
    proxy = Proxy({k: int(v) for k, v in config["listeners"].items()}, config["rtt_ms"] / 1000)
    ports = await proxy.serve()
    print(json.dumps({"ports": ports}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        print(json.dumps(proxy.command(line)), flush=True)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.delay_proxy CONFIG.json", file=sys.stderr)
        return 2
    config = json.loads(Path(argv[0]).read_text())
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        loop.run_until_complete(_main(config))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
