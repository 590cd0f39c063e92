"""The targets from the issue, judged against a result; and the readable table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SIGNER_KV = "signer_kv"
NOTATION = "notation"
SIGNER_LOCAL = "signer_local"
_NAMES = {
    SIGNER_KV: "signer, Key Vault key",
    NOTATION: "notation v1.3.2",
    SIGNER_LOCAL: "signer, local key",
}
_REGISTRY_NAMES = {
    "olareg": "olareg (referrers API)",
    "oci": "in-process OCI test registry (referrers API)",
    "distribution": "docker-registry (tag schema)",
}


def _get(result: Mapping[str, Any] | None, *path: str) -> Any:
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


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _registries(result: Mapping[str, Any]) -> dict[str, Any]:
    return _get(result, "cloud", "registries") or {}


def _referrers_name(result: Mapping[str, Any]) -> str | None:
    for name, block in _registries(result).items():
        if block.get("referrers_api"):
            return str(name)
    return None


def _cell(result: Mapping[str, Any], registry: str | None, rtt: float | None) -> dict[str, Any]:
    if registry is None or rtt is None:
        return {}
    return _get(_registries(result), registry, "cells", f"{rtt:g}") or {}


def targets(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    cloud_rtt = _get(result, "cloud", "cloud_rtt_ms")
    ref = _referrers_name(result)
    cloud = _cell(result, ref, cloud_rtt)
    kv = result.get("keyvault") or {}
    first_cert = _get(kv, "first_signature", "operations_per_signature", "get_certificate")
    steady_cert = _get(kv, "steady", "operations_per_signature", "get_certificate") or 0.0
    refresh_cert = _get(kv, "refresh", "operations", "get_certificate")
    chain_reads = None
    if first_cert is not None and refresh_cert is not None:
        chain_reads = 1.0 if (first_cert == 1 and steady_cert == 0 and refresh_cert == 2) else 0.0
    memory = _get(result, "cloud", "memory") or {}
    at = memory.get("rss_mb_at") or {}
    memory_at = 5000 if "5000" in at else memory.get("signatures")
    memory_mb = at.get("5000", memory.get("rss_mb_now"))
    slopes = _get(result, "cloud", "registries", ref or "", "slope", SIGNER_KV) or {}
    chain = _get(cloud, SIGNER_KV, "sequential_round_trips", "median")
    rows = [
        _target(
            f"cloud mode (RTT {_ms(cloud_rtt)} ms), {ref}: median latency, signer / notation",
            _get(cloud, SIGNER_KV, "vs_notation", "latency_median"),
            0.8,
            kind="max",
            unit="x",
        ),
        _target(
            f"cloud mode (RTT {_ms(cloud_rtt)} ms), {ref}: CPU per signature, signer / notation",
            _get(cloud, SIGNER_KV, "vs_notation", "cpu"),
            0.6,
            kind="max",
            unit="x",
        ),
    ]
    for name in _registries(result):
        rows.append(
            _target(
                f"no added delay, {name}: median latency, signer / notation",
                _get(_cell(result, name, 0.0), SIGNER_KV, "vs_notation", "latency_median"),
                1.0,
                kind="below",
                unit="x",
            )
        )
    rows += [
        _target(
            f"sequential round trips on the critical path, {ref} (slope of the 10th "
            "percentile of latency against RTT)",
            slopes.get("round_trips_p10"),
            6,
            kind="max",
            unit="round trips",
            note=f"cross-checks: slope of the medians {slopes.get('round_trips')}; longest "
            f"chain of non-overlapping exchanges per event, median {chain}",
        ),
        _target(
            "Storage calls per signature, steady state",
            _get(cloud, SIGNER_KV, "storage", "total_per_signature"),
            2,
            kind="max",
            unit="calls",
        ),
        _target(
            f"registry requests per signature, steady state, {ref}",
            _get(cloud, SIGNER_KV, "registry", "total_per_signature"),
            4,
            kind="max",
            unit="requests",
        ),
        _target(
            "registry requests per signature, steady state, distribution (tag schema)",
            _get(
                _cell(result, "distribution", cloud_rtt),
                SIGNER_KV,
                "registry",
                "total_per_signature",
            ),
            6,
            kind="max",
            unit="requests",
        ),
        _target(
            "Key Vault calls per signature, steady state",
            _get(cloud, SIGNER_KV, "keyvault_requests_per_signature"),
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
            f"resident memory after {memory_at} signatures",
            memory_mb,
            150,
            kind="below",
            unit="MiB",
            note="" if memory_at == 5000 else "quick run: fewer than 5,000 signatures",
        ),
        _target(
            "import function_app, not counting azure.functions",
            _get(result, "imports", "import_function_app_ms"),
            300,
            kind="below",
            unit="ms",
        ),
    ]
    return rows


# --- the table -------------------------------------------------------------------------------

_SYMBOL = {"max": "<=", "below": "<", "min": ">=", "equal": "=="}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _share(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _header(result: Mapping[str, Any]) -> list[str]:
    machine = result.get("machine") or {}
    config = result.get("config") or {}
    cloud = result.get("cloud") or {}
    lines = [
        "acr-notary-signer benchmark, every remote behind a delay proxy"
        + (" (QUICK run)" if config.get("quick") else ""),
        f"  {machine.get('cpu_model')} x{machine.get('cores')}, Python {machine.get('python')}, "
        f"{machine.get('docker_registry')}, {machine.get('olareg') or 'no olareg'}, "
        f"Azurite {machine.get('azurite')}, notation {cloud.get('notation_version') or 'absent'}",
        f"  started {result.get('started')}, took {_fmt(result.get('duration_seconds'))} s; "
        f"load average at start {machine.get('load_average_at_start')}, at end "
        f"{machine.get('load_average_at_end')}",
        f"  events per variant per cell: {config.get('block')} x {config.get('rounds')} blocks, "
        "the three variants taking turns",
    ]
    if not cloud.get("notation_version"):
        lines.append("  notation not found: no comparison with notation in this run")
    shares = [
        cell.get("other_processes_cpu_share") or 0.0
        for block in _registries(result).values()
        for cell in (block.get("cells") or {}).values()
    ]
    if shares and max(shares) > 0.1:
        lines.append(
            f"  WARNING: other processes used up to {_share(max(shares))} of the CPU during the "
            "measured cells; figures are only comparable between quiet runs"
        )
    if cloud.get("failure_count"):
        lines.append(f"  FAILURES: {cloud['failure_count']}: {cloud.get('failures')}")
    return [*lines, ""]


def _comparison(result: Mapping[str, Any]) -> list[str]:
    lines = [
        "Per signature, one event at a time (latency through on_image_pushed; notation: the "
        "whole process)",
        f"  {'registry':<14} {'RTT':>4}  {'variant':<22} {'median':>7} {'p95':>7} "
        f"{'CPU ms':>7}   {'latency/notation':>16} {'CPU/notation':>12}   other load",
    ]
    for name, block in _registries(result).items():
        for rtt, cell in (block.get("cells") or {}).items():
            for variant in (SIGNER_KV, NOTATION, SIGNER_LOCAL):
                figures = cell.get(variant)
                if not figures:
                    continue
                lat = figures.get("latency_ms") or {}
                ratio = figures.get("vs_notation") or {}
                lines.append(
                    f"  {name:<14} {rtt:>4}  {_NAMES[variant]:<22} {_fmt(lat.get('median')):>7} "
                    f"{_fmt(lat.get('p95')):>7} {_fmt(figures.get('cpu_ms_per_signature')):>7}   "
                    f"{_fmt(ratio.get('latency_median'), 2):>16} {_fmt(ratio.get('cpu'), 2):>12}"
                    + (
                        f"   {_share(cell.get('other_processes_cpu_share'))}"
                        if variant == SIGNER_KV
                        else ""
                    )
                    + (f"  failures: {figures['failures']}" if figures.get("failures") else "")
                )
    lines.append(
        "  (CPU: getrusage, the signer's worker process RUSAGE_SELF, notation RUSAGE_CHILDREN. "
        "other load: CPU share of all cores used by processes other than the benchmark's)"
    )
    return [*lines, ""]


def _round_trips(result: Mapping[str, Any]) -> list[str]:
    lines = [
        "Sequential round trips on the critical path of one event",
        f"  {'registry':<14} {'variant':<22} {'slope (L2R-L0)/2R':>18} {'0..R':>6} {'R..2R':>6}"
        f" {'p10':>6}   {'chain at R: median (min..max)':>30}",
    ]
    cloud_rtt = _get(result, "cloud", "cloud_rtt_ms")
    for name, block in _registries(result).items():
        cell = _cell(result, name, cloud_rtt)
        for variant in (SIGNER_KV, NOTATION, SIGNER_LOCAL):
            slope = (block.get("slope") or {}).get(variant)
            chain = _get(cell, variant, "sequential_round_trips") or {}
            if not slope:
                continue
            lines.append(
                f"  {name:<14} {_NAMES[variant]:<22} {_fmt(slope.get('round_trips'), 2):>18} "
                f"{_fmt(slope.get('round_trips_first_half'), 1):>6} "
                f"{_fmt(slope.get('round_trips_second_half'), 1):>6} "
                f"{_fmt(slope.get('round_trips_p10'), 1):>6}   "
                f"{_fmt(chain.get('median')):>18} ({chain.get('min')}..{chain.get('max')})"
            )
    lines.append(
        "  (slope: extra median latency per ms of RTT, connection set-ups and TLS handshakes "
        "included; p10: the same from the 10th percentiles; chain: the longest run of exchanges "
        "through the proxy that do not overlap, which other load does not change)"
    )
    return [*lines, ""]


def _pattern_block(label: str, figures: Mapping[str, Any] | None, indent: str) -> list[str]:
    if not figures:
        return []
    lines = [
        f"{indent}{label}: {_fmt(figures.get('total_per_signature'), 2)} per signature, "
        f"{_fmt(figures.get('connections_per_signature'), 2)} new connections"
    ]
    for pattern, value in (figures.get("per_signature") or {}).items():
        lines.append(f"{indent}    {_fmt(value, 2):>6}  {pattern}")
    return lines


def _requests(result: Mapping[str, Any]) -> list[str]:
    cloud_rtt = _get(result, "cloud", "cloud_rtt_ms")
    lines = [f"Requests per signature, steady state (cells at RTT {_ms(cloud_rtt)} ms)"]
    for name, block in _registries(result).items():
        cell = _cell(result, name, cloud_rtt)
        lines.append(f"  {_REGISTRY_NAMES.get(name, name)}")
        for variant in (SIGNER_KV, NOTATION):
            figures = cell.get(variant)
            if not figures:
                continue
            lines.append(f"    {_NAMES[variant]}")
            lines += _pattern_block("registry", figures.get("registry"), "      ")
            if variant == SIGNER_KV:
                lines += _pattern_block("Azure Storage", figures.get("storage"), "      ")
                lines.append(
                    f"      Key Vault: {_fmt(figures.get('keyvault_requests_per_signature'), 2)} "
                    f"requests per signature {figures.get('keyvault_requests')}, "
                    f"{_fmt(_get(figures, 'keyvault_exchanges', 'connections_per_signature'), 2)}"
                    " new connections"
                )
                tsa = _get(figures, "tsa", "total_per_signature")
                lines.append(
                    f"      TSA requests: {_fmt(tsa, 2)} per signature"
                    + ("" if tsa else " (signatures not timestamped; run with --timestamp)")
                )
        first = block.get("first") or {}
        for label, key in (
            ("first event of fresh handlers, fresh repository", "first_cold"),
            ("first event in a fresh repository, warm handlers", "first_warm"),
        ):
            figures = _get(first, SIGNER_KV, key) or {}
            if not figures:
                continue
            lines.append(
                f"    signer, {label}: registry "
                f"{_fmt(_get(figures, 'registry', 'total_per_signature'), 0)}, storage "
                f"{_fmt(_get(figures, 'storage', 'total_per_signature'), 0)}, Key Vault "
                f"{figures.get('keyvault_requests')}, identity "
                f"{_fmt(_get(figures, 'identity', 'total_per_signature'), 0)}; "
                f"{_fmt(_get(figures, 'sequential_round_trips', 'median'))} sequential round "
                f"trips, {_fmt((figures.get('latency_ms') or [None])[0])} ms"
            )
    return [*lines, ""]


def _throughput(result: Mapping[str, Any]) -> list[str]:
    tput = _get(result, "cloud", "throughput") or {}
    if not tput:
        return []
    cloud_rtt = tput.get("rtt_ms")
    ref = tput.get("registry")
    one = _get(_cell(result, ref, cloud_rtt), SIGNER_KV) or {}
    lines = [
        f"Throughput, signer with the Key Vault key, {ref}, RTT {_ms(cloud_rtt)} ms, one worker "
        "process",
        f"  {'in flight':<10} {'sig/s':>7} {'median ms':>10} {'p95 ms':>8}   CPU ms/signature: "
        "signer / registry / Azurite / proxy / vault+identity   pool discards   other load",
    ]
    lat = one.get("latency_ms") or {}
    lines.append(
        f"  {'1':<10} {_fmt(one.get('signatures_per_second_one_at_a_time')):>7} "
        f"{_fmt(lat.get('median')):>10} {_fmt(lat.get('p95')):>8}   "
        f"{_fmt(one.get('cpu_ms_per_signature')):>6}"
    )
    for label in ("4", "16", "soak"):
        phase = tput.get(label)
        if not phase:
            continue
        cpu = phase.get("cpu_ms_per_signature") or {}
        lat = phase.get("latency_ms") or {}
        registry_cpu = cpu.get(ref) if ref in cpu else None
        lines.append(
            f"  {label if label != 'soak' else '16 (soak)':<10} "
            f"{_fmt(phase.get('signatures_per_second')):>7} "
            f"{_fmt(lat.get('median')):>10} {_fmt(lat.get('p95')):>8}   "
            f"{_fmt(cpu.get('worker')):>6} / {_fmt(registry_cpu):>5} / "
            f"{_fmt(cpu.get('azurite')):>5} / {_fmt(cpu.get('proxy')):>5} / "
            f"{_fmt(cpu.get('vault_and_identity')):>5}   "
            f"{phase.get('pool_connections_discarded', 0):>13}   "
            f"{_share(phase.get('other_processes_cpu_share')):>10}"
        )
    return [*lines, ""]


def _timelines(result: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for block in _registries(result).values():
        for variant in (SIGNER_KV, NOTATION):
            text = (block.get("timelines") or {}).get(variant)
            if text:
                lines += [*text, ""]
    return lines


def _keyvault(result: Mapping[str, Any]) -> list[str]:
    kv = result.get("keyvault") or {}
    if not kv:
        return []
    refresh = kv.get("refresh") or {}
    first = kv.get("first_signature") or {}
    return [
        "Key Vault chain reads (KeyVaultSigner, MSI credential, local vault, no delay)",
        f"  first signature: {_fmt(first.get('requests_total_per_signature'), 0)} vault requests "
        f"{first.get('requests_per_signature')}, {first.get('token_requests')} token requests",
        f"  over two chain refresh intervals ({refresh.get('signatures')} signatures): "
        f"{refresh.get('operations')}",
        "",
    ]


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
            f"  first signature in a fresh process (local key, cloud RTT): "
            f"{_fmt(first.get('total_ms'))} ms = import azure.functions "
            f"{_fmt(first.get('import_azure_functions_ms'))} + function_app "
            f"{_fmt(first.get('import_function_app_ms'))} + build "
            f"{_fmt(first.get('build_handlers_ms'))} + first event "
            f"{_fmt(first.get('first_event_ms'))}"
        )
    return [*lines, ""]


def _memory(result: Mapping[str, Any]) -> list[str]:
    memory = _get(result, "cloud", "memory") or {}
    if not memory:
        return []
    at = ", ".join(f"after {k} signatures {v}" for k, v in (memory.get("rss_mb_at") or {}).items())
    lines = [
        "Resident memory of the signer's worker process (VmRSS, MiB)",
        f"  at start {_fmt(memory.get('rss_mb_at_start'))}; {at or '-'}; now "
        f"{_fmt(memory.get('rss_mb_now'))} after {memory.get('signatures')} signatures",
    ]
    curve = memory.get("rss_curve") or []
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
    sections = (
        _header,
        _comparison,
        _round_trips,
        _requests,
        _throughput,
        _timelines,
        _keyvault,
        _fresh,
        _memory,
        _targets,
    )
    return "\n".join(line for section in sections for line in section(result)) + "\n"
