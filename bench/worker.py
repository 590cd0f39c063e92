"""The signer's own process: ``python -m bench.worker CHECKPOINTS.json``, driven over stdin.

Like one Python Functions worker: for each configuration (registry, signer) it builds the
app's handlers once with ``shared.runtime.build_handlers`` and installs them as the
worker's instance (``shared.runtime._handlers``), then delivers events the way the host
does: the body through the host's converter (``EventGridEventInConverter.decode``) into
the decorated ``function_app.on_image_pushed``'s user function. One at a time, or from a
thread pool for 4 and 16 in flight. Nothing else runs here (the test servers, the proxy
and notation live in other processes), so ``getrusage(RUSAGE_SELF)`` is the signer's CPU.

With a Key Vault key (``SIGNER_KEY_ID``) the ``KeyVaultSigner`` is built as the app builds
it, plus the two options that make the SDK trust the local vault (its throwaway CA, and no
check that the challenge's resource matches a ``*.vault.azure.net`` host), as the
resilience tests do; the credential is the app's (managed identity, IDENTITY_ENDPOINT).

Commands, one JSON line each on stdin, each answered by one JSON line on the protocol
stream (the original stdout; ``print`` goes to stderr):
  ``{"op": "config", "name": ..., "env": {...}, "registry_host": ..., "vault_ca": path|null}``
  ``{"op": "phase", "config": name, "concurrency": k, "images": [...]}``
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

import function_app
from bench.images import Image
from bench.stats import rss_mb
from scripts.sample_events import push_event
from shared import runtime
from shared.handlers import Handlers, Result
from shared.runtime import build_components, build_handlers
from shared.settings import Settings
from signer.credentials import build_credential
from signer.signers.keyvault import KeyVaultSigner

ON_IMAGE_PUSHED = function_app.on_image_pushed.build().get_user_function()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PoolDiscards(logging.Filter):
    """Counts the transport's "Connection pool is full, discarding connection" (and hides them)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "Connection pool is full" in str(record.msg):
            self.count += 1
            return False
        return True


@dataclass
class AppConfig:
    name: str
    registry_host: str
    handlers: Handlers
    build_ms: float
    results: threading.local = field(default_factory=threading.local)


def build_config(spec: dict[str, Any]) -> AppConfig:
    start = time.perf_counter()
    settings = Settings.from_env(spec["env"])
    if settings.key_id:
        parts = build_components(settings)
        signer = KeyVaultSigner(
            settings.key_id,
            credential=build_credential(settings.managed_identity_client_id),
            chain_source=settings.cert_chain_source,
            refresh_seconds=settings.chain_refresh_seconds,
            connection_verify=spec["vault_ca"],
            verify_challenge_resource=False,
        )
        unused = parts.signer
        if isinstance(unused, KeyVaultSigner):
            unused.close()
        handlers = build_handlers(settings, components=replace(parts, signer=signer))
    else:
        handlers = build_handlers(settings)
    config = AppConfig(
        spec["name"], spec["registry_host"], handlers, (time.perf_counter() - start) * 1000
    )
    on_event = handlers.on_event

    def keep_results(event_id: Any, event_type: Any, data: Any) -> list[Result]:
        results = on_event(event_id, event_type, data)
        config.results.last = results
        return results

    setattr(handlers, "on_event", keep_results)  # noqa: B010 - the instance only
    return config


class Worker:
    def __init__(self, checkpoints: list[int], curve_every: int) -> None:
        self.configs: dict[str, AppConfig] = {}
        self.checkpoints = set(checkpoints)
        self.curve_every = curve_every
        self.signatures = 0
        self.rss: dict[int, float] = {}
        self.curve: list[tuple[int, float]] = []
        self._lock = threading.Lock()
        self.discards = PoolDiscards()
        logging.getLogger("signer.http.connections").addFilter(self.discards)
        runtime.quiet_sdk_request_logs()
        self.rss_at_start = rss_mb()

    def _counted(self) -> None:
        with self._lock:
            self.signatures += 1
            count = self.signatures
        if count in self.checkpoints or count % self.curve_every == 0:
            value = rss_mb()
            with self._lock:
                if count in self.checkpoints:
                    self.rss[count] = value
                if count % self.curve_every == 0:
                    self.curve.append((count, value))

    @staticmethod
    def event_body(config: AppConfig, image: Image) -> str:
        """The event's JSON as the host hands it to the worker (made by the host's process,
        so outside the CPU measured)."""
        return json.dumps(
            push_event(
                config.registry_host, image.repository, image.digest, tag=image.tag, size=image.size
            )
        )

    def deliver(self, config: AppConfig, body: str) -> tuple[str, float, float]:
        """One event as the host delivers it: (status, start, end) in ``time.monotonic()``."""
        config.results.last = []
        start = time.monotonic()
        try:
            event = EventGridEventInConverter.decode(
                meta.Datum(body, "json"), trigger_metadata=None
            )
            ON_IMAGE_PUSHED(event)
        except Exception as exc:  # counted and reported; the run goes on
            status = f"raised {type(exc).__name__}: {exc}"[:300]
        else:
            results: list[Result] = config.results.last
            status = results[0].status if len(results) == 1 else f"{len(results)} results"
        end = time.monotonic()
        if status == "signed":
            self._counted()
        return status, start, end

    def phase(self, config_name: str, concurrency: int, images: list[Image]) -> dict[str, Any]:
        config = self.configs[config_name]
        runtime._handlers = config.handlers  # what runtime.handlers() returns on a warm worker
        outcomes: list[tuple[str, float, float]] = []
        bodies = [self.event_body(config, image) for image in images]
        discards = self.discards.count
        cpu = cpu_seconds()
        started = time.monotonic()
        if concurrency <= 1:
            outcomes = [self.deliver(config, body) for body in bodies]
        else:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                outcomes = list(pool.map(lambda b: self.deliver(config, b), bodies))
        wall = time.monotonic() - started
        cpu = cpu_seconds() - cpu
        statuses = Counter(status for status, _, _ in outcomes)
        return {
            "config": config_name,
            "concurrency": concurrency,
            "events": len(images),
            "statuses": dict(statuses),
            "windows": [[start, end] for _, start, end in outcomes],
            "latency_ms": [round((end - start) * 1000, 3) for _, start, end in outcomes],
            "signed": [status == "signed" for status, _, _ in outcomes],
            "wall_seconds": round(wall, 4),
            "cpu_seconds": round(cpu, 4),
            "pool_connections_discarded": self.discards.count - discards,
            "signatures_so_far": self.signatures,
            "rss_mb": rss_mb(),
        }

    def command(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "config":
            rss = rss_mb()
            config = build_config(request)
            self.configs[config.name] = config
            return {"ok": True, "build_ms": round(config.build_ms, 1), "rss_mb_before": rss}
        if op == "phase":
            images = [Image.from_json(i) for i in request["images"]]
            return {
                "ok": True,
                **self.phase(request["config"], int(request["concurrency"]), images),
            }
        if op == "memory":
            return {
                "ok": True,
                "rss_mb_at_start": self.rss_at_start,
                "rss_mb_at": {str(k): v for k, v in sorted(self.rss.items())},
                "rss_curve": self.curve,
                "signatures": self.signatures,
                "rss_mb_now": rss_mb(),
            }
        return {"ok": False, "error": f"unknown op {op!r}"}


def serve(worker: Worker, commands: IO[str], answers: IO[str]) -> None:
    for line in commands:
        try:
            answer = worker.command(json.loads(line))
        except Exception as exc:  # the parent reports it and stops
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.worker OPTIONS.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="worker: %(message)s")
    options = json.loads(Path(argv[0]).read_text())
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    worker = Worker(
        [int(c) for c in options["rss_checkpoints"]], int(options.get("rss_every", 500))
    )
    serve(worker, sys.stdin, answers)
    return 0


class WorkerProcess:
    """The parent's handle: ``with WorkerProcess(options, env) as w: w.send({...})``."""

    def __init__(self, options_file: Path, env: dict[str, str], cwd: Path) -> None:
        self.options_file = options_file
        self.env = env
        self.cwd = cwd
        self._process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the worker is not running")
        return self._process.pid

    def __enter__(self) -> WorkerProcess:
        command = [sys.executable, "-m", "bench.worker", str(self.options_file)]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=self.cwd,
            env=self.env,
        )
        # BENCH_PROFILE=<path prefix>: py-spy (pip install py-spy; not a requirement) samples
        # the worker while it runs, for finding where its CPU goes
        profile = os.environ.get("BENCH_PROFILE")
        py_spy = Path(sys.executable).with_name("py-spy")
        if profile and not py_spy.exists():
            print(f"BENCH_PROFILE ignored: {py_spy} is not installed", file=sys.stderr)
        elif profile:
            out = f"{profile}.{self._process.pid}.txt"
            subprocess.Popen(
                [str(py_spy), "record", "--gil", "-r", "400", "-f", "raw", "-o", out, "-p",
                 str(self._process.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        return self

    def send(self, command: dict[str, Any]) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(command) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker exited (code {process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"worker: {answer.get('error')}")
        return answer

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
