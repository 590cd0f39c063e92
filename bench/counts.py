"""Requests per signature, counted where they arrive.

Registry: Debian's docker-registry access log (tag schema), or the in-memory OCI
registry's own request log (referrers API). Azure Storage: a counting proxy in
front of Azurite's blob and table endpoints. Events are delivered one at a time
through ``Handlers.on_event``, so each request belongs to exactly one event.

Three situations are reported:
  ``first_cold``   first signature of a fresh process, in a repository never signed in
  ``first_warm``   first signature in a fresh repository, process already warm
  ``steady``       further images in that repository (per signature, averaged)
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from bench.images import Image
from bench.proxy import Recorded
from scripts.sample_events import push_event
from shared.handlers import Handlers

#: (method, path, status) of each request a registry served, in order
RegistryLog = Callable[[], Sequence[tuple[str, str, int]]]

_REGISTRY_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/v2/?$"), "/v2/"),
    (re.compile(r"^/v2/.+/blobs/uploads/?$"), "/v2/<name>/blobs/uploads/"),
    (re.compile(r"^/v2/.+/blobs/uploads/[^/]+$"), "/v2/<name>/blobs/uploads/<id>"),
    (re.compile(r"^/v2/.+/blobs/[a-z0-9]+:[a-f0-9]+$"), "/v2/<name>/blobs/<digest>"),
    (re.compile(r"^/v2/.+/manifests/[a-z0-9]+:[a-f0-9]+$"), "/v2/<name>/manifests/<digest>"),
    (
        re.compile(r"^/v2/.+/manifests/sha256-[a-f0-9]{64}$"),
        "/v2/<name>/manifests/<sha256-tag index>",
    ),
    (re.compile(r"^/v2/.+/manifests/[^/]+$"), "/v2/<name>/manifests/<tag>"),
    (re.compile(r"^/v2/.+/referrers/[^/]+$"), "/v2/<name>/referrers/<digest>"),
    (re.compile(r"^/v2/.+/tags/list$"), "/v2/<name>/tags/list"),
]


def registry_pattern(method: str, path: str, status: int) -> str:
    bare = path.split("?", 1)[0]
    for regex, name in _REGISTRY_PATTERNS:
        if regex.match(bare):
            return f"{method} {name} -> {status}"
    return f"{method} {bare} -> {status}"


def storage_pattern(service: str, record: Recorded) -> str:
    path, _, query = record.path.partition("?")
    params = parse_qs(query)
    parts = [p for p in path.split("/") if p][1:]  # drop the account name
    if parts and parts[0].startswith("Tables"):
        name = "/Tables"
    elif service == "table":
        name = "/<table>(<keys>)" if parts and "(" in parts[0] else "/<table>"
    elif len(parts) <= 1:
        name = "/<container>"
    else:
        name = "/<container>/<blob>"
    extra = [f"{k}={params[k][0]}" for k in ("restype", "comp") if k in params]
    label = f"{record.method} {service} {name}" + (f"?{'&'.join(extra)}" if extra else "")
    action = record.headers.get("x-ms-lease-action")
    if action:
        label += f" [{action}]"
    return f"{label} -> {record.status}"


@dataclass
class StorageCounter:
    """Reads the two counting proxies (blob, table) in front of Azurite."""

    blob: Callable[[], list[Recorded]]
    table: Callable[[], list[Recorded]]

    def snapshot(self) -> tuple[int, int]:
        return len(self.blob()), len(self.table())

    def since(self, mark: tuple[int, int]) -> list[str]:
        blob = [storage_pattern("blob", r) for r in self.blob()[mark[0] :]]
        table = [storage_pattern("table", r) for r in self.table()[mark[1] :]]
        return blob + table


def deliver(handlers: Handlers, registry_host: str, image: Image) -> tuple[str, float]:
    """One push event through ``on_event``: (status of the result, milliseconds taken)."""
    body = push_event(registry_host, image.repository, image.digest, tag=image.tag, size=image.size)
    start = time.perf_counter()
    results = handlers.on_event(body["id"], body["eventType"], body["data"])
    elapsed = (time.perf_counter() - start) * 1000
    return (results[0].status if results else "none"), elapsed


def _per_signature(counters: Sequence[Counter[str]]) -> dict[str, Any]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    n = len(counters) or 1
    totals = [sum(c.values()) for c in counters]
    return {
        "signatures": len(counters),
        "per_signature": {k: round(v / n, 3) for k, v in sorted(total.items())},
        "total_per_signature": round(sum(total.values()) / n, 3),
        "min_total": min(totals) if totals else 0,
        "max_total": max(totals) if totals else 0,
    }


def count_requests(
    handlers: Handlers,
    *,
    registry_host: str,
    registry_log: RegistryLog,
    storage: StorageCounter | None,
    first_cold: Image,
    first_warm: Image,
    steady: Sequence[Image],
) -> dict[str, Any]:
    """Deliver the events one at a time on fresh ``handlers``; count what each one caused."""

    def one(image: Image) -> tuple[Counter[str], Counter[str], str]:
        registry_mark = len(registry_log())
        storage_mark = storage.snapshot() if storage is not None else (0, 0)
        status, _ = deliver(handlers, registry_host, image)
        served = registry_log()[registry_mark:]
        registry = Counter(registry_pattern(m, p, s) for m, p, s in served)
        stored = Counter(storage.since(storage_mark)) if storage is not None else Counter()
        return registry, stored, status

    out: dict[str, Any] = {}
    statuses: list[str] = []
    for label, image in (("first_cold", first_cold), ("first_warm", first_warm)):
        registry, stored, status = one(image)
        statuses.append(status)
        out[label] = {"registry": _per_signature([registry])}
        if storage is not None:
            out[label]["storage"] = _per_signature([stored])
    steady_registry: list[Counter[str]] = []
    steady_storage: list[Counter[str]] = []
    for image in steady:
        registry, stored, status = one(image)
        statuses.append(status)
        steady_registry.append(registry)
        steady_storage.append(stored)
    out["steady"] = {"registry": _per_signature(steady_registry)}
    if storage is not None:
        out["steady"]["storage"] = _per_signature(steady_storage)
    out["statuses"] = dict(Counter(statuses))
    return out
