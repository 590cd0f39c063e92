"""The benchmark: ``python -m bench.run [--quick] [--rtt-ms 5] [--out FILE.json] [--keep]``.

Every remote behind a delay proxy (``bench.cloud``): olareg (referrers API) and Debian's
docker-registry (tag schema), Azurite's Blob and Table endpoints, the local Key Vault over
HTTPS and the managed-identity endpoint. The signer runs in its own worker process
through ``function_app.on_image_pushed`` with the Key Vault key (and with the local dev
key), the real notation v1.3.2 signs the same kind of images through the same registry
listener, at RTT 0, R and 2R. Reports latency, CPU per signature and the ratios to
notation, the round trips on the critical path of one event (slope, and the proxy's
timeline), requests per signature to each remote, throughput at 1/4/16 in flight,
resident memory, Key Vault chain reads, import time and a fresh process's first
signature; each figure next to its target. Writes JSON and the same table as text to
``bench/results/`` so runs can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cloud import make_profile, remotes, run_cloud, say
from bench.images import push_images
from bench.imports import first_signatures, import_times
from bench.keyvault import measure_keyvault
from bench.report import render, targets
from bench.services import ROOT, Azurite, docker_registry_version
from bench.stats import machine
from scripts.devcert import ensure_dev_certificate
from shared.settings import Settings
from tests.servers.reference_tools import find_tool

RESULTS = ROOT / "bench" / "results"


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


def _tool_version(name: str, *args: str) -> str | None:
    path = find_tool(name)
    if path is None:
        return None
    try:
        done = subprocess.run(
            [str(path), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout else "unknown"


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    profile = make_profile(args.quick, args.rtt_ms)
    result: dict[str, Any] = {
        "schema": 2,
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            **machine(),
            "python": platform.python_version(),
            "docker_registry": docker_registry_version(),
            "azurite": Azurite.version(),
            "olareg": _tool_version("olareg", "version"),
        },
        "config": asdict(profile),
    }
    kv_signatures, kv_refresh = (20, 10) if profile.quick else (50, 10)
    with _workdir(args.keep) as work:
        dev = ensure_dev_certificate(work / "dev")
        with remotes(work, dev, profile.rtt_ms, timestamp=args.timestamp) as remote:
            result["cloud"] = run_cloud(profile, remote, work, dev)

            say("Key Vault chain reads (local Key Vault, no added delay)")
            remote.proxy.set_rtt(0)
            distribution = remote.registries["distribution"]
            kv_images = push_images(distribution, ["bench/kv"], kv_signatures + kv_refresh)
            env = remote.app_env("distribution", "signer_local", dev)
            result["keyvault"] = measure_keyvault(
                Settings.from_env(env),
                dev,
                remote.registry_host("distribution"),
                kv_images[:kv_signatures],
                kv_images[kv_signatures:],
            )

            referrers = next(n for n, api in remote.referrers_api.items() if api)
            say(f"fresh processes: first signature, {referrers}, RTT {profile.rtt_ms:g} ms")
            remote.proxy.set_rtt(profile.rtt_ms)
            runs = 2 if profile.quick else 5
            fresh = push_images(remote.registries[referrers], ["bench/fresh"], 1 + runs)
            result["first_signature"] = first_signatures(
                remote.app_env(referrers, "signer_local", dev),
                remote.registry_host(referrers),
                fresh,
                work,
            )
        say("fresh processes: import time")
        result["imports"] = import_times(3 if profile.quick else 7)
    result["duration_seconds"] = round(time.perf_counter() - started, 1)
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["targets"] = targets(result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a run of about a minute")
    parser.add_argument(
        "--rtt-ms", type=float, default=5.0, help="round-trip time the proxy adds (default 5)"
    )
    parser.add_argument(
        "--timestamp",
        action="store_true",
        help="a local RFC 3161 TSA behind the proxy: the signer and notation timestamp "
        "every signature (one more round trip each)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    args = parser.parse_args(argv)
    if args.rtt_ms <= 0:
        parser.error("--rtt-ms must be above 0 (the runs at RTT 0 are always made)")
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
