"""The benchmark's targets are judged from the figures, and the table renders any result."""

from __future__ import annotations

from typing import Any

from bench.report import render, targets


def _result(notation: bool, signer_latency: float) -> dict[str, Any]:
    def cell(ratio: float | None) -> dict[str, Any]:
        signer: dict[str, Any] = {
            "latency_ms": {"median": signer_latency, "p95": signer_latency * 1.2},
            "cpu_ms_per_signature": 10.0,
            "storage": {"total_per_signature": 2.0},
            "registry": {"total_per_signature": 4.0},
            "keyvault_requests_per_signature": 1.0,
            "sequential_round_trips": {"median": 6, "min": 6, "max": 7},
        }
        if ratio is not None:
            signer["vs_notation"] = {"latency_median": ratio, "cpu": 0.5}
        out: dict[str, Any] = {"signer_kv": signer}
        if notation:
            out["notation"] = {"latency_ms": {"median": 100.0}, "cpu_ms_per_signature": 20.0}
        return out

    ratio = signer_latency / 100.0 if notation else None
    return {
        "cloud": {
            "cloud_rtt_ms": 5.0,
            "notation_version": "v1.3.2" if notation else None,
            "registries": {
                "olareg": {
                    "referrers_api": True,
                    "cells": {"0": cell(ratio), "5": cell(ratio), "10": cell(ratio)},
                    "slope": {"signer_kv": {"round_trips": 6.4, "round_trips_p10": 5.9}},
                }
            },
            "memory": {"rss_mb_at": {"5000": 90.0}, "signatures": 5000},
        },
        "imports": {"import_function_app_ms": 200.0},
    }


def _status(rows: list[dict[str, Any]], start: str) -> str:
    (row,) = [r for r in rows if r["target"].startswith(start)]
    return str(row["status"])


def test_targets_pass_and_miss_by_the_measured_figures() -> None:
    fast = targets(_result(notation=True, signer_latency=70.0))
    assert _status(fast, "cloud mode (RTT 5 ms), olareg: median latency") == "pass"
    assert _status(fast, "cloud mode (RTT 5 ms), olareg: CPU") == "pass"
    assert _status(fast, "sequential round trips") == "pass"  # the 10th-percentile slope
    assert _status(fast, "Storage calls") == "pass"
    assert _status(fast, "resident memory after 5000") == "pass"
    slow = targets(_result(notation=True, signer_latency=90.0))
    assert _status(slow, "cloud mode (RTT 5 ms), olareg: median latency") == "MISS"


def test_without_notation_the_comparisons_are_not_measured() -> None:
    rows = targets(_result(notation=False, signer_latency=70.0))
    assert _status(rows, "cloud mode (RTT 5 ms), olareg: median latency") == "not measured"
    assert _status(rows, "no added delay, olareg") == "not measured"
    table = render({**_result(notation=False, signer_latency=70.0), "targets": rows})
    assert "notation not found: no comparison with notation in this run" in table


def test_an_empty_result_still_renders() -> None:
    assert "Targets" in render({"targets": targets({"cloud": {"cloud_rtt_ms": 5.0}})})
