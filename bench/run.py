"""The benchmark: ``python -m bench.run [--quick] [--n N] [--out FILE.json]``.

Starts Debian's docker-registry (distribution 2.8) and Azurite on free loopback
ports, pushes distinct small images (untimed), and signs them through the
function's own code path (``shared.runtime.build_handlers`` -> ``Handlers.on_event``:
ledger row, blob lease, signature, push) with a local dev key. Reports latency,
throughput with 1/4/16 events in flight, requests per signature (registry, Azure
Storage, Key Vault), import and first-signature time of a fresh process, and
resident memory; writes JSON (and the same table as text) so runs can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.counts import StorageCounter, count_requests, deliver
from bench.images import Image, push_images
from bench.imports import first_signatures, import_times
from bench.keyvault import measure_keyvault
from bench.proxy import CountingProxy
from bench.report import render, targets
from bench.services import ACCOUNT, ACCOUNT_KEY, ROOT, Azurite, docker_registry_version
from bench.stats import machine, summary
from scripts.devcert import ensure_dev_certificate
from shared.runtime import build_handlers
from shared.settings import Settings
from tests.servers.docker_registry import DockerRegistry
from tests.servers.oci_registry import OciRegistry

RESULTS = ROOT / "bench" / "results"
LEDGER_TABLE = "benchledger"
LEASE_CONTAINER = "bench-leases"
WORKER_REPOSITORIES = 8
_WORKER_TIMEOUT = 20 * 60


@dataclass(frozen=True)
class Profile:
    quick: bool
    total: int  # signatures in the warm worker process
    warmup: int
    stages: int
    latency: int
    core: int
    core_lease: int
    throughput_4: int
    throughput_16: int
    soak: int  # more at 16 in flight, up to ``total``
    count_steady: int
    kv_signatures: int
    kv_refresh: int
    fresh_runs: int
    import_runs: int
    checkpoints: tuple[int, ...]


_FULL = {
    "warmup": 20,
    "stages": 200,
    "latency": 600,
    "core": 300,
    "core_lease": 300,
    "throughput_4": 800,
    "throughput_16": 1200,
}
_QUICK = {
    "warmup": 10,
    "stages": 40,
    "latency": 150,
    "core": 50,
    "core_lease": 50,
    "throughput_4": 120,
    "throughput_16": 180,
}


def make_profile(quick: bool, n: int | None) -> Profile:
    base = dict(_QUICK if quick else _FULL)
    total = n if n is not None else (600 if quick else 5000)
    fixed = sum(base.values())
    if total < fixed:  # scale every phase down, keeping each meaningful
        scale = total / fixed
        base = {k: max(5, int(v * scale)) for k, v in base.items()}
        total = sum(base.values())
    checkpoints = {c for c in (1000, 5000) if c <= total} | {total}
    if len(checkpoints) < 2:
        checkpoints.add(total // 2)
    return Profile(
        quick=quick,
        total=total,
        soak=total - sum(base.values()),
        count_steady=10 if quick else 20,
        kv_signatures=20 if quick else 50,
        kv_refresh=10,
        fresh_runs=2 if quick else 5,
        import_runs=3 if quick else 7,
        checkpoints=tuple(sorted(checkpoints)),
        **base,
    )


def _say(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def environment(registry_host: str, connection_string: str, dev: dict[str, Path]) -> dict[str, str]:
    return {
        "SIGNER_REGISTRY": registry_host,
        "SIGNER_INSECURE_REGISTRY": "true",
        "SIGNER_REGISTRY_AUTH": "anonymous",
        "SIGNER_LOCAL_KEY": str(dev["key"]),
        "SIGNER_LOCAL_CERT_CHAIN": str(dev["chain"]),
        "SIGNER_LEDGER_TABLE": LEDGER_TABLE,
        "SIGNER_LEASE_CONTAINER": LEASE_CONTAINER,
        "AzureWebJobsStorage": connection_string,
    }


def _proxied_connection_string(blob_port: int, table_port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/{ACCOUNT};"
        f"TableEndpoint=http://127.0.0.1:{table_port}/{ACCOUNT};"
    )


def _port_of(connection_string: str, endpoint: str) -> int:
    for part in connection_string.split(";"):
        if part.startswith(f"{endpoint}="):
            return int(part.split("/")[2].rsplit(":", 1)[1])
    raise ValueError(f"no {endpoint} in the connection string")


@contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="acr-signer-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


# --- the parts of a run ---------------------------------------------------------------------


def worker_phases(profile: Profile, images: Sequence[Image]) -> list[dict[str, Any]]:
    """Warm-up, then one shuffled one-at-a-time phase of every kind, then 4 and 16 in flight."""
    others = ["stages", "core", "core_lease"] * 2  # warm every set of clients
    warmup = ["full"] * max(1, profile.warmup - len(others)) + others
    sequential = (
        ["full"] * profile.latency
        + ["core"] * profile.core
        + ["core_lease"] * profile.core_lease
        + ["stages"] * profile.stages
    )
    random.Random(20240601).shuffle(sequential)
    plan: list[tuple[str, int, list[str], bool]] = [
        ("warmup", 1, warmup, True),
        ("sequential", 1, sequential, False),
        ("throughput_4", 4, ["full"] * profile.throughput_4, False),
        ("throughput_16", 16, ["full"] * profile.throughput_16, False),
        ("soak", 16, ["full"] * profile.soak, False),
    ]
    phases, offset = [], 0
    for name, concurrency, kinds, discard in plan:
        if not kinds:
            continue
        chunk = images[offset : offset + len(kinds)]
        offset += len(kinds)
        phases.append(
            {
                "name": name,
                "concurrency": concurrency,
                "kinds": kinds,
                "discard": discard,
                "images": [image.to_json() for image in chunk],
            }
        )
    if offset > len(images):
        raise RuntimeError(f"the plan needs {offset} images, {len(images)} were pushed")
    return phases


def run_worker(
    *,
    env: dict[str, str],
    registry_host: str,
    pids: dict[str, int],
    profile: Profile,
    images: Sequence[Image],
    workdir: Path,
) -> dict[str, Any]:
    plan = {
        "env": env,
        "registry_host": registry_host,
        "pids": pids,
        "rss_checkpoints": list(profile.checkpoints),
        "rss_every": 250 if profile.quick else 500,
        "phases": worker_phases(profile, images),
    }
    plan_path, result_path = workdir / "plan.json", workdir / "worker-result.json"
    plan_path.write_text(json.dumps(plan))
    subprocess.run(
        [sys.executable, "-m", "bench.worker", str(plan_path), str(result_path)],
        cwd=ROOT,
        check=True,
        timeout=_WORKER_TIMEOUT,
    )
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


def distribution_counts(
    registry: DockerRegistry, azurite: Azurite, dev: dict[str, Path], profile: Profile
) -> dict[str, Any]:
    """Fresh handlers against docker-registry, storage through counting proxies."""
    cold = push_images(registry.url, ["bench/count-cold"], 1)
    warm = push_images(registry.url, ["bench/count-warm"], 1 + profile.count_steady)
    connection = azurite.connection_string
    with (
        CountingProxy(_port_of(connection, "BlobEndpoint")) as blob,
        CountingProxy(_port_of(connection, "TableEndpoint")) as table,
    ):
        proxied = _proxied_connection_string(blob.port, table.port)
        settings = Settings.from_env(environment(registry.host, proxied, dev))
        handlers = build_handlers(settings)

        def log() -> list[tuple[str, str, int]]:
            return [(e.method, e.path, e.status) for e in registry.access_log()]

        storage = StorageCounter(lambda: blob.records, lambda: table.records)
        return count_requests(
            handlers,
            registry_host=registry.host,
            registry_log=log,
            storage=storage,
            first_cold=cold[0],
            first_warm=warm[0],
            steady=warm[1:],
        )


def referrers_counts(azurite: Azurite, dev: dict[str, Path], profile: Profile) -> dict[str, Any]:
    """The same on the in-memory OCI 1.1 registry with the referrers API (its own log)."""
    with OciRegistry(referrers_api=True) as oci:
        cold = push_images(oci.url, ["bench/count-cold"], 1)
        warm = push_images(oci.url, ["bench/count-warm"], 1 + profile.count_steady)
        settings = Settings.from_env(environment(oci.host, azurite.connection_string, dev))
        handlers = build_handlers(settings)
        oci.clear_requests()

        def log() -> list[tuple[str, str, int]]:
            return [(r.method, r.path, r.status) for r in oci.requests]

        counts = count_requests(
            handlers,
            registry_host=oci.host,
            registry_log=log,
            storage=None,
            first_cold=cold[0],
            first_warm=warm[0],
            steady=warm[1:],
        )
        # latency here is informational: the registry is Python in this same process
        more = push_images(oci.url, ["bench/latency"], 1 + profile.count_steady)
        deliver(handlers, oci.host, more[0])
        counts["latency"] = summary([deliver(handlers, oci.host, i)[1] for i in more[1:]])
    return counts


def memory_section(worker: dict[str, Any], profile: Profile) -> dict[str, Any]:
    at = {int(k): v for k, v in (worker.get("rss_mb_at") or {}).items()}
    target_at = 5000 if 5000 in at else (max(at) if at else None)
    growth = None
    points = sorted(at)
    if len(points) >= 2 and points[-1] > points[0]:
        growth = round((at[points[-1]] - at[points[0]]) / (points[-1] - points[0]) * 1000, 3)
    curve = [(int(c), float(v)) for c, v in worker.get("rss_curve") or []]
    late = [point for point in curve if curve and point[0] >= 0.6 * curve[-1][0]]
    late_growth = None
    if len(late) >= 2 and late[-1][0] > late[0][0]:
        late_growth = round((late[-1][1] - late[0][1]) / (late[-1][0] - late[0][0]) * 1000, 3)
    return {
        "before_build": worker.get("rss_mb_before_build"),
        "after_build": worker.get("rss_mb_after_build"),
        "at": {str(k): at[k] for k in points},
        "curve": worker.get("rss_curve"),
        "growth_mb_per_1000": growth,
        "late_growth_mb_per_1000": late_growth,
        "late_window": [late[0][0], late[-1][0]] if len(late) >= 2 else None,
        "target_checkpoint": target_at,
        "target_rss_mb": at.get(target_at) if target_at is not None else None,
        "quick": profile.quick,
    }


def layer_costs(worker: dict[str, Any]) -> dict[str, Any]:
    """What the lease and the ledger add to one signature: differences of the medians."""
    phases = worker.get("phases") or {}
    full, lease, core = (
        (phases.get(kind) or {}).get("latency_ms", {}).get("median")
        for kind in ("full", "core_lease", "core")
    )
    if full is None or lease is None or core is None:
        return {}
    return {
        "blob_lease": round(lease - core, 2),
        "ledger": round(full - lease, 2),
        "lease_and_ledger": round(full - core, 2),
    }


def ceilings(worker: dict[str, Any], cores: int) -> dict[str, Any]:
    phase = (worker.get("phases") or {}).get("throughput_16") or {}
    cpu = phase.get("cpu_ms_per_signature") or {}
    signer = cpu.get("signer")
    if not signer:
        return {}
    total = sum(v for v in cpu.values() if v)
    return {
        "gil_signatures_per_second": round(1000 / signer, 1),
        "cpu_signatures_per_second": round(1000 * cores / total, 1),
        "cpu_ms_per_signature_all_processes": round(total, 2),
    }


# --- main -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    profile = make_profile(args.quick, args.n)
    result: dict[str, Any] = {
        "schema": 1,
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            **machine(),
            "python": platform.python_version(),
            "docker_registry": docker_registry_version(),
        },
        "config": asdict(profile),
    }
    with _workdir(args.keep) as work, ExitStack() as stack:
        dev = ensure_dev_certificate(work / "dev")
        _say("starting docker-registry and Azurite", started)
        registry = stack.enter_context(DockerRegistry(work / "registry"))
        azurite = stack.enter_context(Azurite(work / "azurite"))
        result["machine"]["azurite"] = azurite.version()
        env = environment(registry.host, azurite.connection_string, dev)

        needed = profile.total
        _say(f"pushing {needed} images into {WORKER_REPOSITORIES} repositories", started)
        mark = time.perf_counter()
        repos = [f"bench/app-{i}" for i in range(WORKER_REPOSITORIES)]
        images = push_images(registry.url, repos, needed)
        result["setup"] = {
            "images_pushed": len(images),
            "push_seconds": round(time.perf_counter() - mark, 1),
        }

        _say(f"worker process: {profile.total} signatures", started)
        pids = {"registry": registry.pid or 0, "azurite": azurite.pid or 0}
        worker = run_worker(
            env=env,
            registry_host=registry.host,
            pids=pids,
            profile=profile,
            images=images,
            workdir=work,
        )
        result["worker"] = worker
        result["memory"] = memory_section(worker, profile)
        result["ceilings"] = ceilings(worker, int(result["machine"]["cores"] or 1))
        result["layers_ms"] = layer_costs(worker)

        _say("request counts: distribution 2.8 and Azure Storage", started)
        result["requests"] = {"distribution": distribution_counts(registry, azurite, dev, profile)}
        _say("request counts: OCI 1.1 registry with the referrers API", started)
        result["requests"]["referrers_api"] = referrers_counts(azurite, dev, profile)

        _say("Key Vault calls", started)
        kv_images = push_images(
            registry.url, ["bench/kv"], profile.kv_signatures + profile.kv_refresh
        )
        result["keyvault"] = measure_keyvault(
            Settings.from_env(env),
            dev,
            registry.host,
            kv_images[: profile.kv_signatures],
            kv_images[profile.kv_signatures :],
        )

        _say("fresh processes: import time", started)
        result["imports"] = import_times(profile.import_runs)
        _say("fresh processes: first signature", started)
        fresh = push_images(registry.url, ["bench/fresh"], 1 + profile.fresh_runs)
        result["first_signature"] = first_signatures(env, registry.host, fresh, work)
    result["duration_seconds"] = round(time.perf_counter() - started, 1)
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["targets"] = targets(result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument("--n", type=int, default=None, help="signatures in the warm worker")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    args = parser.parse_args(argv)
    if args.n is not None and args.n < 40:
        parser.error("--n must be at least 40")
    out: Path = args.out or RESULTS / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    result = run(args)
    table = render(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".txt").write_text(table)
    print(table)
    print(f"written: {out} and {out.with_suffix('.txt')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
