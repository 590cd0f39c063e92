"""What the delay proxy saw, per event: requests by remote, the critical path, a timeline.

An event is a window of ``time.monotonic()`` (the same clock in the proxy, the worker and
the parent); an exchange belongs to the event whose window holds its start. Events run
one at a time while exchanges are recorded, so nothing else shares a window.

The critical path is counted as the longest chain of exchanges that do not overlap in
time (a connection's set-up is an exchange of its own, as the proxy charges it one RTT):
exchanges that overlap ran in parallel and cost one round trip between them. Greedy by
earliest end gives the longest such chain. It is the same count the slope of latency
against RTT measures, read from one event instead of from medians.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.counts import registry_pattern, storage_pattern

#: remotes of each kind, as the delay proxy's listeners are named
REGISTRY = ("olareg", "distribution", "oci")
STORAGE = ("blob", "table")
KEY_VAULT = ("keyvault",)
IDENTITY = ("msi",)
TSA = ("tsa",)

_HTTP_REQUEST = re.compile(r"^([A-Z]+) (\S+) HTTP/1\.[01]( \[[a-z]+\])?$")
_HTTP_STATUS = re.compile(r"^HTTP/1\.[01] (\d{3})")
_DIGEST = re.compile(r"sha256[:-]([a-f0-9]{64})")
_LONG_HEX = re.compile(r"[a-f0-9]{24,}")
_LONG_VALUE = re.compile(r"([?&][A-Za-z_]+=)([^&\s]{16,})")


@dataclass(frozen=True)
class Exchange:
    remote: str
    connection: int
    start: float
    end: float
    request: str
    response: str
    up: int
    down: int

    @classmethod
    def from_json(cls, row: Sequence[Any]) -> Exchange:
        remote, connection, start, end, request, response, up, down = row
        return cls(
            str(remote),
            int(connection),
            float(start),
            float(end),
            str(request),
            str(response),
            int(up),
            int(down),
        )

    @property
    def is_connect(self) -> bool:
        return self.request == "TCP connect"

    @property
    def status(self) -> int:
        match = _HTTP_STATUS.match(self.response)
        return int(match.group(1)) if match else 0

    def pattern(self) -> str:
        """The request in the shape the counts use (names and digests folded)."""
        match = _HTTP_REQUEST.match(self.request)
        if match is None:
            return f"{self.remote}: {self.request}"
        method, target, action = match.group(1), match.group(2), match.group(3)
        if self.remote in REGISTRY:
            return registry_pattern(method, target, self.status)
        if self.remote in STORAGE:
            lease = action.strip(" []") if action else None
            return storage_pattern(self.remote, method, target, lease, self.status)
        return f"{method} {self.remote} {target.split('?', 1)[0]} -> {self.status}"


def exchanges(dump: dict[str, Any]) -> list[Exchange]:
    return sorted((Exchange.from_json(row) for row in dump["exchanges"]), key=lambda e: e.start)


def in_window(items: Sequence[Exchange], window: Sequence[float]) -> list[Exchange]:
    start, end = window
    return [e for e in items if start <= e.start <= end]


def critical_chain(items: Iterable[Exchange]) -> list[Exchange]:
    """The longest chain of exchanges that follow one another without overlapping."""
    chain: list[Exchange] = []
    last_end = float("-inf")
    for exchange in sorted(items, key=lambda e: (e.end, e.start)):
        if exchange.start >= last_end:
            chain.append(exchange)
            last_end = exchange.end
    return chain


@dataclass(frozen=True)
class EventView:
    """The exchanges of one event."""

    window: tuple[float, float]
    items: list[Exchange]

    def requests(self, remotes: Sequence[str]) -> list[Exchange]:
        """Requests proper: connection set-ups and TLS handshakes are not requests."""
        return [
            e
            for e in self.items
            if e.remote in remotes and not e.is_connect and not e.request.startswith("TLS hand")
        ]

    def connections(self, remotes: Sequence[str]) -> int:
        return sum(1 for e in self.items if e.remote in remotes and e.is_connect)

    def sequential(self) -> int:
        return len(critical_chain(self.items))


def views(items: Sequence[Exchange], windows: Sequence[Sequence[float]]) -> list[EventView]:
    return [EventView((float(w[0]), float(w[1])), in_window(items, w)) for w in windows]


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def per_signature(events: Sequence[EventView]) -> dict[str, Any]:
    """Requests per signature by kind of remote, connections, and the critical path."""
    if not events:
        return {"signatures": 0}

    def requests_of(remotes: Sequence[str]) -> dict[str, Any]:
        counters = [Counter(e.pattern() for e in v.requests(remotes)) for v in events]
        total: Counter[str] = Counter()
        for counter in counters:
            total.update(counter)
        n = len(events)
        return {
            "total_per_signature": round(sum(total.values()) / n, 3),
            "per_signature": {k: round(v / n, 3) for k, v in sorted(total.items())},
            "connections_per_signature": round(sum(v.connections(remotes) for v in events) / n, 3),
        }

    chains = [v.sequential() for v in events]
    return {
        "signatures": len(events),
        "registry": requests_of(REGISTRY),
        "storage": requests_of(STORAGE),
        # TLS records, not HTTP requests: the vault's own log counts its requests
        "keyvault_exchanges": requests_of(KEY_VAULT),
        "identity": requests_of(IDENTITY),
        "tsa": requests_of(TSA),
        "sequential_round_trips": {
            "median": statistics.median(chains),
            "mean": _mean([float(c) for c in chains]),
            "min": min(chains),
            "max": max(chains),
        },
    }


def _short(text: str) -> str:
    """Digests, long hex names and long query values folded; what the request is stays."""
    text = text.removesuffix(" HTTP/1.1").replace(" HTTP/1.1 [", " [")
    text = _DIGEST.sub(lambda m: f"sha256:{m.group(1)[:8]}…", text)
    text = _LONG_HEX.sub(lambda m: f"{m.group(0)[:8]}…", text)
    text = _LONG_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)[:8]}…", text)
    return text if len(text) <= 96 else text[:95] + "…"


def render_timeline(view: EventView, title: str) -> list[str]:
    """One event as text: offset, remote, request, answer, duration; the chain marked ``*``."""
    chain = {id(e) for e in critical_chain(view.items)}
    origin = view.window[0]
    lines = [
        title,
        f"  event took {(view.window[1] - origin) * 1000:.1f} ms; {len(chain)} sequential "
        f"round trips (* = on the longest chain of non-overlapping exchanges)",
        f"  {'offset ms':>9} {'ms':>6}   {'remote':<12} request -> answer",
    ]
    for e in view.items:
        mark = "*" if id(e) in chain else " "
        answer = e.response.split(" ", 1)[1][:24] if e.response.startswith("HTTP/") else e.response
        request = e.request if e.is_connect else f"{_short(e.request)} -> {answer or '-'}"
        lines.append(
            f"  {(e.start - origin) * 1000:>9.1f} {(e.end - e.start) * 1000:>6.1f} {mark} "
            f"{e.remote:<12} {request}"
        )
    return lines
