"""The real notation v1.3.2 as the yardstick: one whole process per signature.

``notation sign --key <dev key> --signature-format cose`` through the same delayed
registry, on images of the same shape, with the same RSA dev key as the signer's (from a
file: notation has no Key Vault here). Latency is the wall time of the process as the
parent starts and reaps it; CPU is the ``getrusage(RUSAGE_CHILDREN)`` delta around it
(only the notation process ends meanwhile: the servers and the worker are still running).
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path

from bench.images import Image
from tests.servers.notation import Notation
from tests.servers.reference_tools import find_tool

KEY_NAME = "bench"


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class NotationSignature:
    ok: bool
    start: float  # time.monotonic()
    end: float
    cpu_seconds: float
    error: str = ""

    @property
    def latency_ms(self) -> float:
        return (self.end - self.start) * 1000


class NotationSigner:
    def __init__(
        self, home: Path, dev: dict[str, Path], *, timestamp: tuple[str, Path] | None = None
    ) -> None:
        """``timestamp``: (TSA URL, its root certificate file): every signature is
        timestamped, as ``notation sign --timestamp-url --timestamp-root-cert``."""
        binary = find_tool("notation")
        if binary is None:
            raise FileNotFoundError("notation")
        self.binary = binary
        self.notation = Notation(home, binary)
        self.notation.signing_key(KEY_NAME, dev["key"], dev["chain"])
        self._timestamp = (
            ["--timestamp-url", timestamp[0], "--timestamp-root-cert", str(timestamp[1])]
            if timestamp
            else []
        )

    def version(self) -> str:
        run = self.notation.run("version")
        for line in run.stdout.splitlines():
            if line.strip().lower().startswith("version"):
                return line.split(":", 1)[1].strip()
        return "unknown"

    def sign(self, registry_host: str, image: Image, *, referrers_api: bool) -> NotationSignature:
        reference = f"{registry_host}/{image.repository}@{image.digest}"
        # the tag schema is notation's default; olareg has the referrers API
        extra = ["--force-referrers-tag=false"] if referrers_api else []
        extra += self._timestamp
        cpu = children_cpu_seconds()
        start = time.monotonic()
        run = self.notation.sign(reference, key=KEY_NAME, extra=extra)
        end = time.monotonic()
        cpu = children_cpu_seconds() - cpu
        return NotationSignature(run.passed, start, end, cpu, "" if run.passed else str(run)[-500:])


def available() -> bool:
    return find_tool("notation") is not None
