"""The warm worker process: ``python -m bench.worker PLAN.json RESULT.json``.

One process, like one Python Functions worker: it builds its ``Handlers`` once
with ``shared.runtime.build_handlers`` and then delivers events through
``Handlers.on_event`` one at a time, or from a thread pool sharing that one
instance for 4 and 16 events in flight. It runs in its own process so that its
resident memory and CPU time are the signer's alone (the test servers live in
the parent).

Each event of a phase is one of these kinds:
  ``full``        ``on_event``: parse, filters, ledger row, lease, sign, push, ledger finish
  ``core``        ``SigningService.sign`` without lease or ledger (same clients, same key)
  ``core_lease``  ``SigningService.sign`` holding the blob lease, no ledger
  ``stages``      ``on_event`` on a second, instrumented set of clients: time per stage

A phase with one event in flight may mix kinds (the parent shuffles them), so that
a change in machine load during the run affects every kind alike; its figures are
reported per kind, with each event's CPU time read before and after it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.images import Image
from bench.stats import cpu_seconds, machine_busy_seconds, own_cpu_seconds, rss_mb, summary
from scripts.sample_events import push_event
from shared.handlers import Handlers
from shared.runtime import Components, build_components, build_handlers
from shared.settings import Settings
from signer.locking import Hold, SubjectLock
from signer.models import Signed, SignRequest
from signer.service import SigningService

#: stage names in the order they happen within one event
STAGES = (
    "resolve",
    "ledger.start",
    "lease.acquire",
    "list_referrers",
    "envelope",
    "push_signature",
    "lease.release",
    "ledger.finish",
)
NESTED = ("key.sign",)  # inside "envelope"; not added to the sum


KINDS = ("full", "core", "core_lease", "stages")


@dataclass
class Phase:
    name: str
    concurrency: int
    images: list[Image]
    kinds: list[str]  # one per image
    discard: bool = False  # warm-up: count the signatures, report nothing

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Phase:
        images = [Image.from_json(i) for i in value["images"]]
        kinds = list(value["kinds"])
        if len(kinds) != len(images) or not set(kinds) <= set(KINDS):
            raise ValueError(f"phase {value['name']}: one known kind per image is needed")
        if int(value["concurrency"]) > 1 and (len(set(kinds)) > 1 or "stages" in kinds):
            raise ValueError(
                f"phase {value['name']}: kinds mix, and stages are timed, one at a time only"
            )
        return cls(
            name=value["name"],
            concurrency=int(value["concurrency"]),
            images=images,
            kinds=kinds,
            discard=bool(value.get("discard", False)),
        )


class PoolDiscards(logging.Filter):
    """Counts urllib3's "Connection pool is full, discarding connection" (and hides them)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "Connection pool is full" in str(record.msg):
            self.count += 1
            return False
        return True


class Stopwatch:
    """Time per stage for the event in progress (the stages phase runs one at a time)."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)

    def reset(self) -> dict[str, float]:
        done, self.current = dict(self.current), defaultdict(float)
        return done

    def wrap(self, stage: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.current[stage] += (time.perf_counter() - start) * 1000

        return timed

    def lock(self, inner: SubjectLock) -> SubjectLock:
        @contextmanager
        def held(key: str) -> Iterator[Hold]:
            manager = inner(key)
            start = time.perf_counter()
            hold = manager.__enter__()
            self.current["lease.acquire"] += (time.perf_counter() - start) * 1000
            try:
                yield hold
            except BaseException as exc:
                start = time.perf_counter()
                manager.__exit__(type(exc), exc, exc.__traceback__)
                self.current["lease.release"] += (time.perf_counter() - start) * 1000
                raise
            start = time.perf_counter()
            manager.__exit__(None, None, None)
            self.current["lease.release"] += (time.perf_counter() - start) * 1000

        def factory(key: str) -> AbstractContextManager[Hold]:
            return held(key)

        return factory


def instrumented_handlers(settings: Settings, watch: Stopwatch) -> Handlers:
    """Handlers on their own clients with every stage timed (instance attributes only)."""
    parts = build_components(settings)
    registry, signer, ledger = parts.registry, parts.signer, parts.ledger
    for name in ("resolve", "list_referrers", "push_signature"):
        setattr(registry, name, watch.wrap(name, getattr(registry, name)))
    setattr(signer, "sign", watch.wrap("key.sign", signer.sign))  # noqa: B010
    write = ledger.write

    def timed_write(entity: Any, *, upsert: bool = False) -> None:
        stage = "ledger.start" if entity.get("status") == "signing" else "ledger.finish"
        watch.wrap(stage, write)(entity, upsert=upsert)

    setattr(ledger, "write", timed_write)  # noqa: B010
    handlers = build_handlers(settings, components=replace(parts, lock=watch.lock(parts.lock)))
    service = handlers.service
    setattr(service, "_envelope", watch.wrap("envelope", service._envelope))  # noqa: B010
    return handlers


class Worker:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.settings = Settings.from_env(plan["env"])
        self.registry_host: str = plan["registry_host"]
        self.pids: dict[str, int] = {k: int(v) for k, v in plan["pids"].items()}
        self.checkpoints = sorted(int(c) for c in plan["rss_checkpoints"])
        self.curve_every = int(plan.get("rss_every", 500))
        self.signatures = 0
        self.rss: dict[int, float] = {}
        self.curve: list[tuple[int, float]] = []
        self._count_lock = threading.Lock()
        self.watch = Stopwatch()
        self.discards = PoolDiscards()
        logging.getLogger("urllib3.connectionpool").addFilter(self.discards)
        self.rss_before_build = rss_mb()
        start = time.perf_counter()
        self.parts: Components = build_components(self.settings)
        self.handlers = build_handlers(self.settings, components=self.parts)
        self.build_ms = (time.perf_counter() - start) * 1000
        self.rss_after_build = rss_mb()
        self.core = SigningService(registry=self.parts.registry, signer=self.parts.signer)
        self.core_lease = SigningService(
            registry=self.parts.registry, signer=self.parts.signer, lock=self.parts.lock
        )
        self.staged: Handlers | None = None

    # --- one signature ------------------------------------------------------------------

    def _counted(self) -> None:
        with self._count_lock:
            self.signatures += 1
            count = self.signatures
        if count in self.checkpoints or count % self.curve_every == 0:
            value = rss_mb()
            with self._count_lock:
                if count in self.checkpoints:
                    self.rss[count] = value
                if count % self.curve_every == 0:
                    self.curve.append((count, value))

    def _event(self, handlers: Handlers, image: Image) -> Callable[[], bool]:
        body = push_event(
            self.registry_host, image.repository, image.digest, tag=image.tag, size=image.size
        )

        def deliver() -> bool:
            results = handlers.on_event(body["id"], body["eventType"], body["data"])
            return len(results) == 1 and results[0].status == "signed"

        return deliver

    def _core(self, service: SigningService, image: Image) -> Callable[[], bool]:
        request = SignRequest(
            registry=self.settings.registry,
            repository=image.repository,
            reference=image.digest,
            tag=image.tag,
            expiry=self.settings.expiry,
            user_metadata=self.settings.user_metadata,
        )
        return lambda: isinstance(service.sign(request), Signed)

    def _task(self, kind: str, image: Image) -> Callable[[], bool]:
        if kind == "full":
            return self._event(self.handlers, image)
        if kind == "core":
            return self._core(self.core, image)
        if kind == "core_lease":
            return self._core(self.core_lease, image)
        if kind == "stages":
            if self.staged is None:
                self.staged = instrumented_handlers(self.settings, self.watch)
            return self._event(self.staged, image)
        raise ValueError(f"unknown kind {kind!r}")

    # --- a phase -------------------------------------------------------------------------

    def _one(
        self, image: Image, kind: str, record: _KindRun, lock: threading.Lock, per_event_cpu: bool
    ) -> None:
        """Deliver one event and record it; per-event CPU only when nothing else runs."""
        task = self._task(kind, image)
        cpu_before = self._cpu() if per_event_cpu else None
        start = time.perf_counter()
        try:
            ok = task()
        except Exception as exc:  # counted and reported; the run goes on
            ok = False
            with lock:
                record.errors.append(f"{type(exc).__name__}: {exc}"[:300])
        elapsed = (time.perf_counter() - start) * 1000
        cpu_after = self._cpu() if per_event_cpu else None
        staged = self.watch.reset() if kind == "stages" else None
        if not ok:
            with lock:
                record.errors.append("not signed")
            return
        self._counted()
        with lock:
            record.latencies.append(elapsed)
            if staged is not None:
                record.stages.append(staged)
            if cpu_before is not None and cpu_after is not None:
                for name, value in cpu_after.items():
                    record.cpu[name] = record.cpu.get(name, 0.0) + value - cpu_before[name]

    def run(self, phase: Phase) -> dict[str, Any]:
        """Deliver the phase's events; figures per kind (the event is built untimed)."""
        runs: dict[str, _KindRun] = {kind: _KindRun() for kind in dict.fromkeys(phase.kinds)}
        lock = threading.Lock()
        sequential = phase.concurrency <= 1
        items = list(zip(phase.images, phase.kinds, strict=True))
        discards_before = self.discards.count
        busy_before = machine_busy_seconds()
        cpu_before = self._cpu()
        rss_before = rss_mb()
        started = time.perf_counter()
        if sequential:
            for image, kind in items:
                self._one(image, kind, runs[kind], lock, True)
        else:
            with ThreadPoolExecutor(max_workers=phase.concurrency) as pool:
                futures = [
                    pool.submit(self._one, image, kind, runs[kind], lock, False)
                    for image, kind in items
                ]
                for future in futures:
                    future.result()
        wall = time.perf_counter() - started
        cpu_after = self._cpu()
        ours = sum(cpu_after[name] - cpu_before[name] for name in cpu_after)
        others = max(0.0, machine_busy_seconds() - busy_before - ours)
        if not sequential:  # one kind: the whole phase's CPU belongs to it
            (only,) = runs.values()
            only.cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
        common = {
            "concurrency": phase.concurrency,
            "mixed_with": sorted(runs) if len(runs) > 1 else [],
            "rss_mb_before": rss_before,
            "rss_mb_after": rss_mb(),
            "signatures_so_far": self.signatures,
            "pool_connections_discarded": self.discards.count - discards_before,
            # CPU that processes other than the signer, registry and Azurite used meanwhile
            "other_processes_cpu_share": (
                round(others / (wall * (os.cpu_count() or 1)), 3) if wall > 0 else None
            ),
        }
        return {
            kind: {"kind": kind, **record.summary(None if sequential else wall), **common}
            for kind, record in runs.items()
        }

    def _cpu(self) -> dict[str, float]:
        values = {"signer": own_cpu_seconds()}
        for name, pid in self.pids.items():
            values[name] = cpu_seconds(pid)
        return values


@dataclass
class _KindRun:
    latencies: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    def summary(self, wall: float | None) -> dict[str, Any]:
        """``wall``: the phase's wall time when events overlapped; else the sum of latencies."""
        done = len(self.latencies)
        seconds = wall if wall is not None else sum(self.latencies) / 1000
        out: dict[str, Any] = {
            "events": done + len(self.errors),
            "signed": done,
            "errors": len(self.errors),
            "error_examples": sorted(set(self.errors))[:5],
            "wall_seconds": round(seconds, 3),
            "signatures_per_second": round(done / seconds, 2) if seconds > 0 else 0.0,
            "latency_ms": summary(self.latencies),
            "cpu_ms_per_signature": {
                name: round(value * 1000 / done, 2) if done else None
                for name, value in self.cpu.items()
            },
        }
        if self.stages:
            out["stages_ms"] = _stage_summary(self.stages, self.latencies)
        return out


def _stage_summary(stages: list[dict[str, float]], totals: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (*STAGES, *NESTED):
        out[name] = summary([s.get(name, 0.0) for s in stages])
    others = [
        max(0.0, total - sum(s.get(n, 0.0) for n in STAGES))
        for s, total in zip(stages, totals, strict=False)
    ]
    out["other"] = summary(others)
    out["total"] = summary(totals)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.worker PLAN.json RESULT.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="worker: %(message)s")
    plan = json.loads(Path(argv[0]).read_text())
    worker = Worker(plan)
    phases: dict[str, Any] = {}
    for raw in plan["phases"]:
        phase = Phase.from_json(raw)
        kinds = ", ".join(f"{k} {phase.kinds.count(k)}" for k in dict.fromkeys(phase.kinds))
        print(
            f"  worker: {phase.name}: {len(phase.images)} events ({kinds}), "
            f"{phase.concurrency} in flight",
            file=sys.stderr,
            flush=True,
        )
        by_kind = worker.run(phase)
        if phase.discard:
            continue
        for kind, figures in by_kind.items():
            # one kind per phase keeps its name; a mixed phase is reported per kind
            phases[phase.name if len(by_kind) == 1 else kind] = figures
    result = {
        "build_ms": round(worker.build_ms, 1),
        "rss_mb_before_build": worker.rss_before_build,
        "rss_mb_after_build": worker.rss_after_build,
        "rss_mb_at": {str(k): v for k, v in sorted(worker.rss.items())},
        "rss_curve": worker.curve,
        "signatures": worker.signatures,
        "phases": phases,
    }
    Path(argv[1]).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
