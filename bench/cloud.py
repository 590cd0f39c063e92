"""The cloud-latency comparison: the signer against the real notation, every remote delayed.

Every remote the signer talks to sits behind the delay proxy (``bench.delay_proxy``): the
registry (olareg with the referrers API, and Debian's docker-registry with the tag
schema), Azurite's Blob and Table endpoints, the local Key Vault over HTTPS and the
managed-identity endpoint (and, with ``--timestamp``, a local RFC 3161 TSA: ``openssl ts``
behind HTTP, which the signer and notation both ask for every signature's timestamp). The
signer runs in its own worker process (``bench.worker``) through
``function_app.on_image_pushed``; notation v1.3.2 signs through the same listener, one
process per signature, started by this process.

For each registry and each RTT (0, R, 2R; R from ``--rtt-ms``, default 5) the signer
with the Key Vault key, the real notation, and the signer with the local dev key take
turns in blocks, so that a change in the machine's load touches all three alike. The
slope of median latency against RTT is the number of round trips on the critical path
of one event; the proxy's exchanges give the same count per event, the requests per
signature, and the timeline of one event. Then 4 and 16 events in flight at RTT R, and
more at 16 until the worker has made the signatures the memory figure is taken at.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bench.delay_proxy import DelayProxy
from bench.images import Image, push_images
from bench.keyvault import kv_pattern
from bench.notation_runs import NotationSigner, available, children_cpu_seconds
from bench.services import ACCOUNT, ACCOUNT_KEY, ROOT, Azurite
from bench.stats import (
    cpu_seconds,
    machine_busy_seconds,
    own_cpu_seconds,
    percentile,
    summary,
)
from bench.timeline import EventView, exchanges, per_signature, render_timeline, views
from bench.worker import WorkerProcess
from tests.servers.docker_registry import DockerRegistry
from tests.servers.keyvault import VAULT_RESOURCE, KeyVaultServer
from tests.servers.msi import IDENTITY_VARIABLES, TOKEN_PATH, ManagedIdentityServer
from tests.servers.oci_registry import OciRegistry
from tests.servers.olareg import Olareg
from tests.servers.reference_tools import HOW_TO_GET, find_tool
from tests.servers.tsa import TsaServer

LEDGER_TABLE = "benchledger"
KEY_NAME = "bench-signing"
REPOSITORIES = 8
VARIANTS = ("signer_kv", "notation", "signer_local")


@dataclass(frozen=True)
class CloudProfile:
    quick: bool
    rtt_ms: float
    block: int  # events of one variant in a row
    rounds: int  # blocks of each variant per registry and RTT
    warmup: int
    throughput_4: int
    throughput_16: int
    soak_to: int  # signatures the worker has made when the memory figure is taken

    @property
    def rtts(self) -> tuple[float, ...]:
        return (0.0, self.rtt_ms, 2 * self.rtt_ms)

    @property
    def per_cell(self) -> int:
        return self.block * self.rounds


def make_profile(quick: bool, rtt_ms: float) -> CloudProfile:
    if quick:
        return CloudProfile(True, rtt_ms, 10, 2, 5, 60, 120, 0)
    return CloudProfile(False, rtt_ms, 20, 5, 20, 400, 800, 5000)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class ProxiedVault(KeyVaultServer):
    """The local Key Vault, naming itself by the proxy's address in every id it returns."""

    advertised: str | None = None

    @property
    def url(self) -> str:
        return self.advertised or f"https://{self.host}"


def _port(host: str) -> int:
    return int(host.rsplit(":", 1)[1])


def _endpoint_port(connection_string: str, endpoint: str) -> int:
    for part in connection_string.split(";"):
        if part.startswith(f"{endpoint}="):
            return int(part.split("/")[2].rsplit(":", 1)[1])
    raise ValueError(f"no {endpoint} in the connection string")


def _dev_key(path: Path) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError("the dev key is neither RSA nor EC")
    return key


@dataclass
class Remotes:
    """Everything behind the proxy, and how the signer and notation reach it."""

    registries: dict[str, str]  # name -> direct url (for pushing images, untimed)
    referrers_api: dict[str, bool]
    proxy: DelayProxy
    vault: ProxiedVault
    msi: ManagedIdentityServer
    pids: dict[str, int]
    timestamp_url: str | None  # the TSA through the proxy (--timestamp), else None
    timestamp_root: Path | None

    def registry_host(self, name: str) -> str:
        return self.proxy.address(name)

    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{self.proxy.address('blob')}/{ACCOUNT};"
            f"TableEndpoint=http://{self.proxy.address('table')}/{ACCOUNT};"
        )

    def app_env(self, registry: str, signer: str, dev: dict[str, Path]) -> dict[str, str]:
        env = {
            "SIGNER_REGISTRY": self.registry_host(registry),
            "SIGNER_INSECURE_REGISTRY": "true",
            "SIGNER_REGISTRY_AUTH": "anonymous",
            "SIGNER_LEDGER_TABLE": LEDGER_TABLE,
            "AzureWebJobsStorage": self.connection_string(),
        }
        if signer == "signer_kv":
            env["SIGNER_KEY_ID"] = self.vault.key_id(KEY_NAME)
        else:
            env["SIGNER_LOCAL_KEY"] = str(dev["key"])
            env["SIGNER_LOCAL_CERT_CHAIN"] = str(dev["chain"])
        if self.timestamp_url and self.timestamp_root:
            env["SIGNER_TIMESTAMP_URL"] = self.timestamp_url
            env["SIGNER_TIMESTAMP_ROOT_CERT"] = str(self.timestamp_root)
        return env

    def worker_env(self) -> dict[str, str]:
        """The worker's process environment: managed identity through the proxy."""
        env = {k: v for k, v in os.environ.items() if k not in IDENTITY_VARIABLES}
        env["IDENTITY_ENDPOINT"] = f"http://{self.proxy.address('msi')}{TOKEN_PATH}"
        env["IDENTITY_HEADER"] = self.msi.identity_header
        return env


@contextmanager
def remotes(
    work: Path, dev: dict[str, Path], rtt_ms: float, *, timestamp: bool = False
) -> Iterator[Remotes]:
    with ExitStack() as stack:
        say("starting olareg, docker-registry, Azurite, the Key Vault and identity endpoints")
        registries: dict[str, str] = {}
        upstreams: dict[str, int] = {}
        pids: dict[str, int] = {}
        referrers: dict[str, bool] = {}
        if find_tool("olareg") is not None:
            olareg = stack.enter_context(Olareg(work / "olareg"))
            registries["olareg"], upstreams["olareg"] = olareg.url, _port(olareg.host)
            pids["olareg"] = olareg.pid or 0
        else:
            say("olareg not found: the in-process OCI 1.1 test registry stands in for it")
            oci = stack.enter_context(OciRegistry(referrers_api=True))
            registries["oci"], upstreams["oci"] = oci.url, oci.port
        referrers[next(iter(registries))] = True
        distribution = stack.enter_context(DockerRegistry(work / "registry"))
        registries["distribution"] = distribution.url
        upstreams["distribution"] = _port(distribution.host)
        referrers["distribution"] = False
        pids["distribution"] = distribution.pid or 0
        azurite = stack.enter_context(Azurite(work / "azurite"))
        pids["azurite"] = azurite.pid or 0
        upstreams["blob"] = _endpoint_port(azurite.connection_string, "BlobEndpoint")
        upstreams["table"] = _endpoint_port(azurite.connection_string, "TableEndpoint")
        msi = stack.enter_context(ManagedIdentityServer())
        vault = stack.enter_context(ProxiedVault(accept_token=msi.validator(VAULT_RESOURCE)))
        upstreams["keyvault"], upstreams["msi"] = vault.port, msi.port
        tsa = None
        if timestamp:
            (work / "tsa").mkdir(exist_ok=True)
            tsa = stack.enter_context(TsaServer(workdir=work / "tsa"))
        if tsa is not None:
            upstreams["tsa"] = tsa.port
        proxy = stack.enter_context(DelayProxy(upstreams, rtt_ms))
        pids["proxy"] = proxy.pid
        vault.advertised = f"https://{proxy.address('keyvault')}"
        chain = x509.load_pem_x509_certificates(dev["chain"].read_bytes())
        vault.add_certificate(KEY_NAME, _dev_key(dev["key"]), chain)
        timestamp_url = f"http://{proxy.address('tsa')}/" if tsa is not None else None
        yield Remotes(
            registries,
            referrers,
            proxy,
            vault,
            msi,
            pids,
            timestamp_url,
            tsa.root_path if tsa is not None else None,
        )


# --- the plan -------------------------------------------------------------------------------


class ImagePool:
    """Images pushed up front, handed out in order; each signs once."""

    def __init__(self, images: Sequence[Image]) -> None:
        self._images = list(images)
        self._next = 0

    def take(self, n: int) -> list[Image]:
        if self._next + n > len(self._images):
            raise RuntimeError(f"needed {self._next + n} images, {len(self._images)} were pushed")
        chunk = self._images[self._next : self._next + n]
        self._next += n
        return chunk


def images_needed(profile: CloudProfile, referrers_registry: bool) -> int:
    """Main-repository images one registry needs (cold and fresh-repository ones apart)."""
    signer = len(profile.rtts) * profile.per_cell + profile.warmup
    needed = 2 * signer + len(profile.rtts) * profile.per_cell + 2  # two signers, notation
    if referrers_registry:
        needed += profile.throughput_4 + profile.throughput_16 + soak_size(profile)
    return needed


def soak_size(profile: CloudProfile, registries: int = 2) -> int:
    """Events at 16 in flight after the rest, so that the worker reaches ``soak_to``."""
    before = registries * 2 * (2 + profile.warmup + len(profile.rtts) * profile.per_cell)
    before += profile.throughput_4 + profile.throughput_16
    return max(0, profile.soak_to - before)


# --- measuring ------------------------------------------------------------------------------


@dataclass
class CellRecord:
    """One variant at one registry and RTT: every event, and CPU summed over the blocks."""

    latencies: list[float]
    windows: list[list[float]]
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    failures: int = 0
    keyvault_requests: int = 0
    vault_patterns: Counter[str] | None = None

    @classmethod
    def empty(cls) -> CellRecord:
        return cls([], [], vault_patterns=Counter())


class Bench:
    def __init__(
        self,
        profile: CloudProfile,
        remotes: Remotes,
        worker: WorkerProcess,
        notation: NotationSigner | None,
        dev: dict[str, Path],
    ) -> None:
        self.profile = profile
        self.remotes = remotes
        self.worker = worker
        self.notation = notation
        self.dev = dev
        self.pids = {**remotes.pids, "worker": worker.pid}
        self.failures: list[str] = []

    # --- one block of one variant ---------------------------------------------------------

    def signer_block(self, config: str, images: Sequence[Image], record: CellRecord) -> None:
        vault_mark = len(self.remotes.vault.log)
        answer = self.worker.send(
            {
                "op": "phase",
                "config": config,
                "concurrency": 1,
                "images": [i.to_json() for i in images],
            }
        )
        served = self.remotes.vault.log[vault_mark:]
        record.keyvault_requests += len(served)
        assert record.vault_patterns is not None
        record.vault_patterns.update(kv_pattern(m, p, s) for m, p, s in served)
        for latency, window, ok in zip(
            answer["latency_ms"], answer["windows"], answer["signed"], strict=True
        ):
            if ok:
                record.latencies.append(latency)
                record.windows.append(window)
            else:
                record.failures += 1
        bad = {k: v for k, v in answer["statuses"].items() if k != "signed"}
        if bad:
            self.failures.append(f"{config}: {bad}")
        record.cpu_seconds += answer["cpu_seconds"]
        record.wall_seconds += answer["wall_seconds"]

    def notation_block(self, registry: str, images: Sequence[Image], record: CellRecord) -> None:
        assert self.notation is not None
        host = self.remotes.registry_host(registry)
        for image in images:
            run = self.notation.sign(
                host, image, referrers_api=self.remotes.referrers_api[registry]
            )
            record.cpu_seconds += run.cpu_seconds
            record.wall_seconds += run.end - run.start
            if run.ok:
                record.latencies.append(run.latency_ms)
                record.windows.append([run.start, run.end])
            else:
                record.failures += 1
                self.failures.append(f"notation on {registry}: {run.error}")

    # --- the machine's other load -----------------------------------------------------------

    def _known_cpu(self) -> float:
        known = sum(cpu_seconds(pid) for pid in self.pids.values() if pid)
        return known + own_cpu_seconds() + children_cpu_seconds()

    @contextmanager
    def load_meter(self, into: dict[str, Any]) -> Iterator[None]:
        """CPU share of all cores used by processes other than ours, while the block ran."""
        busy, known, start = machine_busy_seconds(), self._known_cpu(), time.monotonic()
        load = os.getloadavg()[0]
        yield
        wall = time.monotonic() - start
        others = max(0.0, (machine_busy_seconds() - busy) - (self._known_cpu() - known))
        into["other_processes_cpu_share"] = round(others / (wall * (os.cpu_count() or 1)), 3)
        into["load_average_1min"] = [round(load, 2), round(os.getloadavg()[0], 2)]

    # --- a registry: cold, warm-up, then RTT cells -----------------------------------------

    def fresh_image(self, registry: str, label: str) -> Image:
        """An image alone in a repository never signed in (pushed untimed)."""
        url = self.remotes.registries[registry]
        return push_images(url, [f"bench/fresh-{label}"], 1)[0]

    def registry(self, name: str, pool: ImagePool) -> dict[str, Any]:
        configs = {v: f"{name}/{v}" for v in ("signer_kv", "signer_local")}
        out: dict[str, Any] = {"referrers_api": self.remotes.referrers_api[name], "cells": {}}
        out["build_ms"] = {v: self._configure(name, v, c) for v, c in configs.items()}
        out["first"] = {v: self._first(name, v, c) for v, c in configs.items()}
        for config in configs.values():
            self.signer_block(config, pool.take(self.profile.warmup), CellRecord.empty())
        if self.notation is not None:
            self.notation_block(name, pool.take(2), CellRecord.empty())
        for rtt in self.profile.rtts:
            say(f"  {name}: RTT {rtt:g} ms")
            cell, timelines = self._cell(name, configs, pool, rtt)
            out["cells"][f"{rtt:g}"] = cell
            if rtt == self.profile.rtt_ms:
                out["timelines"] = timelines
        out["slope"] = _slopes(out["cells"], self.profile.rtts)
        return out

    def _configure(self, registry: str, variant: str, config: str) -> float:
        answer = self.worker.send(
            {
                "op": "config",
                "name": config,
                "env": self.remotes.app_env(registry, variant, self.dev),
                "registry_host": self.remotes.registry_host(registry),
                "vault_ca": str(self.remotes.vault.ca_file),
            }
        )
        return float(answer["build_ms"])

    def _first(self, registry: str, variant: str, config: str) -> dict[str, Any]:
        """The handlers' first event (new connections, token, chain), then the first in a
        repository never signed in: at the cloud RTT, one repository each."""
        proxy = self.remotes.proxy
        proxy.set_rtt(self.profile.rtt_ms)
        out: dict[str, Any] = {}
        for label in ("first_cold", "first_warm"):
            record = CellRecord.empty()
            image = self.fresh_image(registry, f"{variant}-{label}")
            proxy.record(True)
            self.signer_block(config, [image], record)
            proxy.record(False)
            seen = views(exchanges(proxy.dump()), record.windows)
            out[label] = {
                **per_signature(seen),
                "keyvault_requests": record.keyvault_requests,
                "keyvault_patterns": dict(record.vault_patterns or {}),
                "latency_ms": record.latencies,
            }
        return out

    def _cell(
        self, registry: str, configs: dict[str, str], pool: ImagePool, rtt: float
    ) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The three variants in turns, ``rounds`` blocks each, at one RTT."""
        proxy = self.remotes.proxy
        proxy.set_rtt(rtt)
        records = {v: CellRecord.empty() for v in VARIANTS}
        cell: dict[str, Any] = {}
        proxy.record(True)
        with self.load_meter(cell):
            for round_ in range(self.profile.rounds):
                for variant in VARIANTS[round_ % 3 :] + VARIANTS[: round_ % 3]:
                    if variant != "notation":
                        images = pool.take(self.profile.block)
                        self.signer_block(configs[variant], images, records[variant])
                    elif self.notation is not None:
                        images = pool.take(self.profile.block)
                        self.notation_block(registry, images, records[variant])
        proxy.record(False)
        seen = exchanges(proxy.dump())
        for variant, record in records.items():
            if record.latencies or record.failures:
                cell[variant] = _cell_summary(record, views(seen, record.windows))
        _ratios(cell)
        return cell, _timelines(registry, records, seen, rtt)

    # --- throughput and memory ----------------------------------------------------------------

    def throughput(self, name: str, pool: ImagePool) -> dict[str, Any]:
        self.remotes.proxy.set_rtt(self.profile.rtt_ms)
        config = f"{name}/signer_kv"
        out: dict[str, Any] = {"registry": name, "rtt_ms": self.profile.rtt_ms}
        phases = [
            ("4", 4, self.profile.throughput_4),
            ("16", 16, self.profile.throughput_16),
            ("soak", 16, soak_size(self.profile, len(self.remotes.registries))),
        ]
        for label, concurrency, count in phases:
            if count <= 0:
                continue
            say(f"  {name}: {count} events, {concurrency} in flight")
            figures: dict[str, Any] = {}
            remote_cpu = {k: cpu_seconds(p) for k, p in self.pids.items() if p}
            parent_cpu = own_cpu_seconds()
            with self.load_meter(figures):
                answer = self.worker.send(
                    {
                        "op": "phase",
                        "config": config,
                        "concurrency": concurrency,
                        "images": [i.to_json() for i in pool.take(count)],
                    }
                )
            signed = sum(answer["signed"])
            used = {k: cpu_seconds(p) - remote_cpu[k] for k, p in self.pids.items() if p}
            used["worker"] = answer["cpu_seconds"]
            used["vault_and_identity"] = own_cpu_seconds() - parent_cpu
            bad = {k: v for k, v in answer["statuses"].items() if k != "signed"}
            if bad:
                self.failures.append(f"throughput {label}: {bad}")
            out[label] = {
                "concurrency": concurrency,
                "events": answer["events"],
                "signed": signed,
                "signatures_per_second": round(signed / answer["wall_seconds"], 2),
                "latency_ms": summary(
                    [
                        lat
                        for lat, ok in zip(answer["latency_ms"], answer["signed"], strict=True)
                        if ok
                    ]
                ),
                "cpu_ms_per_signature": {
                    k: round(v * 1000 / signed, 2) if signed else None for k, v in used.items()
                },
                "pool_connections_discarded": answer["pool_connections_discarded"],
                **figures,
            }
        return out


def _cell_summary(record: CellRecord, seen: Sequence[EventView]) -> dict[str, Any]:
    n = len(record.latencies)
    return {
        "latency_ms": summary(record.latencies),
        "latencies_ms": [round(v, 2) for v in record.latencies],
        "cpu_ms_per_signature": round(record.cpu_seconds * 1000 / n, 2) if n else None,
        "signatures_per_second_one_at_a_time": round(n / record.wall_seconds, 2)
        if record.wall_seconds
        else None,
        "failures": record.failures,
        "keyvault_requests_per_signature": round(record.keyvault_requests / n, 3) if n else None,
        "keyvault_requests": {
            k: round(v / n, 3) for k, v in sorted((record.vault_patterns or {}).items())
        }
        if n
        else {},
        **per_signature(seen),
    }


def _ratios(cell: dict[str, Any]) -> None:
    notation = cell.get("notation")
    if not notation:
        return
    for variant in ("signer_kv", "signer_local"):
        ours = cell.get(variant)
        if not ours:
            continue
        lat, ref = ours["latency_ms"].get("median"), notation["latency_ms"].get("median")
        cpu, ref_cpu = ours.get("cpu_ms_per_signature"), notation.get("cpu_ms_per_signature")
        ours["vs_notation"] = {
            "latency_median": round(lat / ref, 3) if lat and ref else None,
            "cpu": round(cpu / ref_cpu, 3) if cpu and ref_cpu else None,
        }


def _slopes(cells: dict[str, Any], rtts: Sequence[float]) -> dict[str, Any]:
    """Round trips on the critical path: d(latency)/d(RTT), per variant.

    From the medians, and from the 10th percentiles, which a busy machine moves less.
    """
    out: dict[str, Any] = {}
    low, mid, high = (cells.get(f"{r:g}") or {} for r in rtts)
    span = rtts[2] - rtts[0]
    for variant in VARIANTS:
        samples: list[list[float]] = [
            (c.get(variant) or {}).get("latencies_ms") or [] for c in (low, mid, high)
        ]
        if not all(samples):
            continue
        l0, l1, l2 = (statistics.median(s) for s in samples)
        p0, _, p2 = (percentile(s, 10) for s in samples)
        out[variant] = {
            "round_trips": round((l2 - l0) / span, 2),
            "round_trips_first_half": round((l1 - l0) / (rtts[1] - rtts[0]), 2),
            "round_trips_second_half": round((l2 - l1) / (rtts[2] - rtts[1]), 2),
            "round_trips_p10": round((p2 - p0) / span, 2),
            "medians_ms": [round(v, 2) for v in (l0, l1, l2)],
        }
    return out


def _timelines(
    registry: str, records: dict[str, CellRecord], seen: Sequence[Any], rtt: float
) -> dict[str, list[str]]:
    """The event of median latency, per variant, as text."""
    out: dict[str, list[str]] = {}
    for variant, record in records.items():
        if not record.latencies:
            continue
        median = statistics.median_low(record.latencies)
        index = record.latencies.index(median)
        view = views(seen, [record.windows[index]])[0]
        title = f"{variant} on {registry}, RTT {rtt:g} ms, the event of median latency"
        out[variant] = render_timeline(view, title)
    return out


def push_all(remotes: Remotes, profile: CloudProfile) -> dict[str, ImagePool]:
    pools: dict[str, ImagePool] = {}
    for name, url in remotes.registries.items():
        count = images_needed(profile, remotes.referrers_api[name])
        say(f"pushing {count} images into {name}")
        repos = [f"bench/app-{i}" for i in range(REPOSITORIES)]
        pools[name] = ImagePool(push_images(url, repos, count))
    return pools


def run_cloud(
    profile: CloudProfile, remote: Remotes, work: Path, dev: dict[str, Path]
) -> dict[str, Any]:
    result: dict[str, Any] = {"rtts_ms": list(profile.rtts), "cloud_rtt_ms": profile.rtt_ms}
    notation: NotationSigner | None = None
    if available():
        stamp = (
            (remote.timestamp_url, remote.timestamp_root)
            if remote.timestamp_url and remote.timestamp_root
            else None
        )
        notation = NotationSigner(work / "notation-home", dev, timestamp=stamp)
        result["notation_version"] = notation.version()
    else:
        say(f"notation not found ({HOW_TO_GET['notation']}): no comparison with notation")
        result["notation_version"] = None
    result["registries_used"] = list(remote.registries)
    result["timestamp_url"] = remote.timestamp_url
    mark = time.perf_counter()
    pools = push_all(remote, profile)
    result["push_seconds"] = round(time.perf_counter() - mark, 1)
    options = work / "worker-options.json"
    checkpoints = sorted({1000, 5000, max(1, profile.soak_to)})
    options.write_text(json.dumps({"rss_checkpoints": checkpoints, "rss_every": 250}))
    with WorkerProcess(options, remote.worker_env(), ROOT) as worker:
        bench = Bench(profile, remote, worker, notation, dev)
        result["registries"] = {}
        for name in remote.registries:
            say(f"{name}: signer (Key Vault key), notation, signer (local key)")
            result["registries"][name] = bench.registry(name, pools[name])
        referrers = next(n for n, api in remote.referrers_api.items() if api)
        say(f"throughput at RTT {profile.rtt_ms:g} ms on {referrers}")
        result["throughput"] = bench.throughput(referrers, pools[referrers])
        memory = worker.send({"op": "memory"})
        memory.pop("ok", None)
        result["memory"] = memory
        result["failures"] = bench.failures[:20]
        result["failure_count"] = len(bench.failures)
    return result
