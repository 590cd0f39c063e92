"""The targets from the issue, judged against a result; and the readable table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _get(result: Mapping[str, Any], *path: str) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _target(
    name: str,
    measured: float | None,
    limit: float,
    *,
    kind: str,
    unit: str,
    note: str = "",
) -> dict[str, Any]:
    """``kind``: "max" (measured <= limit), "below" (<), "min" (>=), "equal"."""
    checks: dict[str, Callable[[float], bool]] = {
        "max": lambda v: v <= limit,
        "below": lambda v: v < limit,
        "min": lambda v: v >= limit,
        "equal": lambda v: abs(v - limit) < 1e-9,
    }
    row: dict[str, Any] = {
        "target": name,
        "limit": limit,
        "comparison": kind,
        "unit": unit,
        "measured": measured,
    }
    if measured is None:
        row.update(status="not measured", miss_by=None)
    else:
        ok = checks[kind](measured)
        row["status"] = "pass" if ok else "MISS"
        if ok:
            row["miss_by"] = None
        else:
            gap = measured - limit if kind in ("max", "below", "equal") else limit - measured
            row["miss_by"] = round(gap, 2)
            row["miss_by_percent"] = round(abs(gap) / limit * 100, 1) if limit else None
    if note:
        row["note"] = note
    return row


def targets(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    phases = _get(result, "worker", "phases") or {}
    memory = result.get("memory") or {}
    kv = result.get("keyvault") or {}
    first_cert = _get(kv, "first_signature", "operations_per_signature", "get_certificate")
    steady_cert = _get(kv, "steady", "operations_per_signature", "get_certificate") or 0.0
    refresh_cert = _get(kv, "refresh", "operations", "get_certificate")
    chain_reads = None
    if first_cert is not None and refresh_cert is not None:
        # once for the process, nothing while warm, once more per refresh interval
        chain_reads = 1.0 if (first_cert == 1 and steady_cert == 0 and refresh_cert == 2) else 0.0
    memory_at = memory.get("target_checkpoint")
    return [
        _target(
            "registry requests per signature, steady state, referrers API",
            _get(result, "requests", "referrers_api", "steady", "registry", "total_per_signature"),
            4,
            kind="max",
            unit="requests",
        ),
        _target(
            "registry requests per signature, steady state, tag schema (distribution 2.8)",
            _get(result, "requests", "distribution", "steady", "registry", "total_per_signature"),
            6,
            kind="max",
            unit="requests",
        ),
        _target(
            "Key Vault calls per signature (warm)",
            _get(kv, "steady", "requests_total_per_signature"),
            1,
            kind="equal",
            unit="calls",
        ),
        _target(
            "certificate chain fetched once per process and refresh interval",
            chain_reads,
            1,
            kind="equal",
            unit="1 = yes",
            note=(
                f"get_certificate: first signature {first_cert}, per warm signature "
                f"{steady_cert}, over two refresh intervals {refresh_cert}"
            ),
        ),
        _target(
            "median latency per signature, distribution 2.8, one at a time (on_event)",
            _get(phases, "full", "latency_ms", "median"),
            30,
            kind="below",
            unit="ms",
        ),
        _target(
            "throughput, distribution 2.8, 16 events in flight",
            _get(phases, "throughput_16", "signatures_per_second"),
            100,
            kind="min",
            unit="signatures/s",
        ),
        _target(
            "import function_app, not counting azure.functions",
            _get(result, "imports", "import_function_app_ms"),
            300,
            kind="below",
            unit="ms",
        ),
        _target(
            f"resident memory after {memory_at} signatures",
            memory.get("target_rss_mb"),
            150,
            kind="below",
            unit="MiB",
            note="" if memory_at == 5000 else "quick run: fewer than 5,000 signatures",
        ),
    ]


# --- the table -------------------------------------------------------------------------------

_SYMBOL = {"max": "<=", "below": "<", "min": ">=", "equal": "=="}
LAYERS = ("full", "core_lease", "core")


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _share(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _latency_row(label: str, phase: Mapping[str, Any] | None) -> str:
    if not phase:
        return f"  {label:<44} -"
    lat = phase.get("latency_ms") or {}
    return (
        f"  {label:<44} {_fmt(lat.get('min')):>7} {_fmt(lat.get('median')):>7} "
        f"{_fmt(lat.get('p95')):>7} {_fmt(lat.get('max')):>7} {lat.get('n', 0):>6}"
        f"{'  errors: ' + str(phase['errors']) if phase.get('errors') else ''}"
    )


def _counts_block(title: str, counts: Mapping[str, Any] | None, key: str) -> list[str]:
    lines = [title]
    if not counts:
        return [*lines, "  -"]
    for label, situation in (
        ("first signature, fresh process, fresh repository", "first_cold"),
        ("first signature in a fresh repository, warm process", "first_warm"),
        ("steady state, per signature", "steady"),
    ):
        block = _get(counts, situation, key)
        if not block:
            continue
        n = block.get("signatures")
        lines.append(
            f"  {label}: {_fmt(block.get('total_per_signature'), 2)} requests"
            + (f" (over {n} signatures)" if situation == "steady" else "")
        )
        for pattern, value in block.get("per_signature", {}).items():
            lines.append(f"      {_fmt(value, 2):>6}  {pattern}")
    return lines


def _header(result: Mapping[str, Any]) -> list[str]:
    machine = result.get("machine") or {}
    config = result.get("config") or {}
    lines = [
        "acr-notary-signer benchmark" + (" (QUICK run)" if config.get("quick") else ""),
        f"  {machine.get('cpu_model')} x{machine.get('cores')}, Python {machine.get('python')}, "
        f"{machine.get('docker_registry')}, Azurite {machine.get('azurite')}",
        f"  started {result.get('started')}, took {_fmt(result.get('duration_seconds'))} s; "
        f"load average at start {machine.get('load_average_at_start')}, at end "
        f"{machine.get('load_average_at_end')}",
    ]
    phases = _get(result, "worker", "phases") or {}
    shares = [p.get("other_processes_cpu_share") or 0.0 for p in phases.values()]
    if shares and max(shares) > 0.1:
        lines.append(
            f"  WARNING: other processes used up to {_share(max(shares))} of the CPU during the "
            "measured phases; latency and throughput are only comparable between quiet runs"
        )
    return [*lines, ""]


def _latency(result: Mapping[str, Any]) -> list[str]:
    phases = _get(result, "worker", "phases") or {}
    lines = [
        "Latency per signature, warm process, one at a time (ms)    "
        f"{'min':>7} {'median':>7} {'p95':>7} {'max':>7} {'n':>6}",
        _latency_row("on_event, distribution 2.8 (ledger + lease)", phases.get("full")),
        _latency_row("SigningService.sign + lease (no ledger)", phases.get("core_lease")),
        _latency_row("SigningService.sign only (no lease, ledger)", phases.get("core")),
    ]
    kv_steady = _get(result, "keyvault", "steady")
    if kv_steady:
        lines.append(_latency_row("on_event with KeyVaultSigner (local vault)", kv_steady))
    ref = _get(result, "requests", "referrers_api", "latency")
    if ref:
        lines.append(
            _latency_row("on_event, in-process OCI 1.1 test registry", {"latency_ms": ref})
        )
    full, lease, core = (_get(phases, k, "latency_ms", "median") for k in LAYERS)
    if full is not None and lease is not None and core is not None:
        lines.append(
            f"  cost of the layers (difference of medians): blob lease {lease - core:.1f} ms, "
            f"ledger {full - lease:.1f} ms, together {full - core:.1f} ms"
        )
    other = _get(phases, "full", "other_processes_cpu_share")
    if other is not None:
        lines.append(
            f"  (kinds shuffled in one phase; other processes used {_share(other)} of the CPU "
            "meanwhile)"
        )
    lines.append("")
    stages = _get(phases, "stages", "stages_ms")
    if stages:
        lines.append("Where one signature's time goes (on_event, instrumented run, median ms)")
        for name, value in stages.items():
            indent = "    of which " if name == "key.sign" else "  "
            lines.append(f"{indent}{name:<20} {_fmt(value.get('median'), 2):>7}")
        lines.append("")
    return lines


def _throughput(result: Mapping[str, Any]) -> list[str]:
    phases = _get(result, "worker", "phases") or {}
    lines = [
        "Throughput, one worker process, threads sharing one Handlers",
        f"  {'in flight':<10} {'sig/s':>7} {'median ms':>10} {'p95 ms':>8}   "
        "CPU ms/signature: signer / registry / Azurite   pool discards   other load",
    ]
    for label, name in (("1", "full"), ("4", "throughput_4"), ("16", "throughput_16")):
        phase = phases.get(name)
        if not phase:
            continue
        cpu = phase.get("cpu_ms_per_signature") or {}
        lat = phase.get("latency_ms") or {}
        lines.append(
            f"  {label:<10} {_fmt(phase.get('signatures_per_second')):>7} "
            f"{_fmt(lat.get('median')):>10} {_fmt(lat.get('p95')):>8}   "
            f"{_fmt(cpu.get('signer')):>6} / {_fmt(cpu.get('registry')):>5} / "
            f"{_fmt(cpu.get('azurite')):>5}   {phase.get('pool_connections_discarded', 0):>13}"
            f"   {_share(phase.get('other_processes_cpu_share')):>10}"
        )
    lines.append(
        "  (1 in flight: the on_event events of the shuffled one-at-a-time phase. pool discards: "
        "urllib3 'connection pool is full', a connection closed instead of reused. other load: "
        "CPU used by processes other than these three, share of all cores)"
    )
    ceilings = result.get("ceilings") or {}
    if ceilings:
        lines.append(
            "  ceilings from CPU time at 16 in flight: one core for the signer's Python (GIL) "
            f"{_fmt(ceilings.get('gil_signatures_per_second'))}/s; all three processes on "
            f"{_get(result, 'machine', 'cores')} cores "
            f"{_fmt(ceilings.get('cpu_signatures_per_second'))}/s"
        )
    return [*lines, ""]


def _requests(result: Mapping[str, Any]) -> list[str]:
    requests = result.get("requests") or {}
    return [
        *_counts_block(
            "Registry requests per signature: distribution 2.8 (tag schema), at its access log",
            requests.get("distribution"),
            "registry",
        ),
        *_counts_block(
            "Registry requests per signature: OCI 1.1 registry with the referrers API",
            requests.get("referrers_api"),
            "registry",
        ),
        *_counts_block(
            "Azure Storage requests per signature (ledger + lease), counting proxy at Azurite",
            requests.get("distribution"),
            "storage",
        ),
        "",
    ]


def _keyvault(result: Mapping[str, Any]) -> list[str]:
    kv = result.get("keyvault") or {}
    if not kv:
        return []
    lines = ["Key Vault (KeyVaultSigner against the local Key Vault, MSI credential)"]
    for label, key in (("first signature", "first_signature"), ("per warm signature", "steady")):
        block = kv.get(key) or {}
        lines.append(
            f"  {label}: {_fmt(block.get('requests_total_per_signature'), 2)} vault requests, "
            f"{block.get('token_requests')} token requests"
            + (f" (over {block.get('signatures')} signatures)" if key == "steady" else "")
        )
        for pattern, value in (block.get("requests_per_signature") or {}).items():
            lines.append(f"      {_fmt(value, 2):>6}  {pattern}")
    refresh = kv.get("refresh") or {}
    lines.append(
        f"  over two chain refresh intervals ({refresh.get('signatures')} signatures): "
        f"{refresh.get('operations')}"
    )
    return [*lines, ""]


def _fresh(result: Mapping[str, Any]) -> list[str]:
    imports = result.get("imports") or {}
    first = result.get("first_signature") or {}
    alone, ours = imports.get("import_azure_functions_ms"), imports.get("import_function_app_ms")
    lines = [
        "Fresh process (median of runs)",
        f"  import azure.functions alone           {_fmt(alone)} ms",
        f"  import function_app after it (ours)    {_fmt(ours)} ms",
    ]
    packages = _get(imports, "breakdown", "self_ms_by_package") or {}
    if packages:
        shares = ", ".join(f"{name} {ms}" for name, ms in list(packages.items())[:8])
        lines.append(f"    by package (self ms under -X importtime): {shares}")
    if first:
        lines.append(
            f"  first signature in a fresh process: {_fmt(first.get('total_ms'))} ms = "
            f"import azure.functions {_fmt(first.get('import_azure_functions_ms'))} "
            f"+ function_app {_fmt(first.get('import_function_app_ms'))} "
            f"+ build {_fmt(first.get('build_handlers_ms'))} "
            f"+ first event {_fmt(first.get('first_event_ms'))}"
        )
        lines.append(
            f"    (whole process incl. interpreter start and exit: "
            f"{_fmt(first.get('process_wall_ms'))} ms)"
        )
    return [*lines, ""]


def _memory(result: Mapping[str, Any]) -> list[str]:
    memory = result.get("memory") or {}
    at = ", ".join(f"after {k} signatures {v}" for k, v in (memory.get("at") or {}).items())
    lines = [
        "Resident memory of the worker process (VmRSS, MiB)",
        f"  before build {_fmt(memory.get('before_build'))}, "
        f"after build {_fmt(memory.get('after_build'))}, {at}",
    ]
    if memory.get("growth_mb_per_1000") is not None:
        lines.append(
            f"  growth between the checkpoints: {_fmt(memory.get('growth_mb_per_1000'), 2)} MiB "
            "per 1,000 signatures"
        )
    window = memory.get("late_window")
    if window:
        lines.append(
            f"  growth over the last stretch ({window[0]}..{window[1]} signatures): "
            f"{_fmt(memory.get('late_growth_mb_per_1000'), 2)} MiB per 1,000 signatures"
        )
    curve = memory.get("curve") or []
    if curve:
        lines.append("  curve: " + ", ".join(f"{c}: {v}" for c, v in curve))
    return [*lines, ""]


def _targets(result: Mapping[str, Any]) -> list[str]:
    lines = ["Targets"]
    for row in result.get("targets") or []:
        miss = ""
        if row.get("miss_by") is not None:
            miss = f"  missed by {row['miss_by']} {row['unit']} ({row.get('miss_by_percent')}%)"
        lines.append(
            f"  [{row['status']:>4}] {row['target']}: {_fmt(row['measured'], 2)} "
            f"(target {_SYMBOL[row['comparison']]} {row['limit']} {row['unit']}){miss}"
        )
        if row.get("note"):
            lines.append(f"         {row['note']}")
    return lines


def render(result: Mapping[str, Any]) -> str:
    sections = (_header, _latency, _throughput, _requests, _keyvault, _fresh, _memory, _targets)
    return "\n".join(line for section in sections for line in section(result)) + "\n"
