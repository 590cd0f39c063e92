"""Fresh-process figures: import times and the first signature of a new worker.

Each figure is the median of several fresh ``python`` processes (``bench.fresh``);
one untimed run first makes sure bytecode caches are written. A ``-X importtime``
run splits our import cost by package (its own overhead inflates the absolute
numbers a little; the shares are what it is for).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.images import Image
from bench.services import ROOT
from scripts.sample_events import push_event

_TIMEOUT = 120


def _run(args: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )
    wall = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def _median(rows: Sequence[Mapping[str, Any]], key: str) -> float:
    return round(statistics.median(float(r[key]) for r in rows), 2)


def import_times(runs: int) -> dict[str, Any]:
    _run(["-m", "bench.fresh", "import-app"])  # untimed: bytecode caches
    alone = [_run(["-m", "bench.fresh", "import-azure-functions"])[0] for _ in range(runs)]
    ours = [_run(["-m", "bench.fresh", "import-app"])[0] for _ in range(runs)]
    return {
        "runs": runs,
        "import_azure_functions_ms": _median(alone, "import_azure_functions_ms"),
        "import_function_app_ms": _median(ours, "import_function_app_ms"),
        "import_function_app_ms_all": [r["import_function_app_ms"] for r in ours],
        "import_azure_functions_ms_all": [r["import_azure_functions_ms"] for r in alone],
        "modules_added_by_function_app": ours[0]["modules_added"],
        "breakdown": import_breakdown(),
    }


def _group(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "azure" and len(parts) > 1:
        if parts[1] in ("storage", "data", "keyvault") and len(parts) > 2:
            return ".".join(parts[:3])
        return ".".join(parts[:2])
    return parts[0]


def import_breakdown(top: int = 12) -> dict[str, Any]:
    """Self time of the modules ``import function_app`` loads, summed per package."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import azure.functions; import function_app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=True,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    rows: list[tuple[int, int, str]] = []
    for line in lines[1:]:  # the first line is the header
        _, self_us, cumulative_us, name = _fields(line)
        rows.append((self_us, cumulative_us, name))
    # modules are printed as they finish: everything after ``azure.functions`` is ours
    start = next((i for i, row in enumerate(rows) if row[2].strip() == "azure.functions"), -1) + 1
    ours = rows[start:]
    by_package: dict[str, int] = defaultdict(int)
    for self_us, _, name in ours:
        by_package[_group(name.strip())] += self_us
    total = sum(by_package.values())
    ranked = sorted(by_package.items(), key=lambda item: -item[1])[:top]
    direct = sorted(
        (
            (round(cumulative / 1000, 1), name.strip())
            for _, cumulative, name in ours
            if len(name) - len(name.lstrip()) <= 5  # function_app and two levels below it
        ),
        reverse=True,
    )
    return {
        "total_self_ms_under_importtime": round(total / 1000, 1),
        "self_ms_by_package": {name: round(us / 1000, 1) for name, us in ranked},
        "largest_imports_cumulative_ms": {name: ms for ms, name in direct[:top]},
    }


def _fields(line: str) -> tuple[str, int, int, str]:
    body = line.split(":", 1)[1]
    self_us, cumulative_us, name = body.split("|", 2)
    return "", int(self_us), int(cumulative_us), name.rstrip()


def first_signatures(
    env: Mapping[str, str], registry_host: str, images: Sequence[Image], workdir: Path
) -> dict[str, Any]:
    """One fresh process per image (the first one untimed): import, build, sign one event."""
    rows: list[dict[str, Any]] = []
    walls: list[float] = []
    for index, image in enumerate(images):
        event = push_event(
            registry_host, image.repository, image.digest, tag=image.tag, size=image.size
        )
        path = workdir / f"event-{index}.json"
        path.write_text(json.dumps(event))
        row, wall = _run(["-m", "bench.fresh", "first-signature", str(path)], env)
        if row.get("status") != "signed":
            raise RuntimeError(f"fresh-process signature ended {row.get('status')!r}")
        if index > 0:
            rows.append(row)
            walls.append(wall)
    if not rows:
        return {"runs": 0}
    keys = (
        "import_azure_functions_ms",
        "import_function_app_ms",
        "build_handlers_ms",
        "first_event_ms",
        "total_ms",
    )
    out: dict[str, Any] = {"runs": len(rows)}
    for key in keys:
        out[key] = _median(rows, key)
    out["process_wall_ms"] = round(statistics.median(walls), 1)
    out["total_ms_all"] = [r["total_ms"] for r in rows]
    return out
