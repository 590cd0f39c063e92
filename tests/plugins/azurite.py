"""pytest fixtures: a real Azurite (Azure Storage emulator) for blob leases and the ledger table.

``azurite_connection_string`` (session) starts node_modules/.bin/azurite in memory on free
loopback ports, so concurrent test sessions do not collide, and stops its process group at
the end. A missing Azurite is a setup problem, not a reason to skip: the fixture fails.
``storage_names`` (function) gives each test its own table and container.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

AZURITE = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft); never a real secret.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_START_TIMEOUT = 20.0
_ATTEMPTS = 3  # a free port can be taken by someone else between probing and binding


@dataclass(frozen=True)
class StorageNames:
    table: str
    container: str


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def _start(workdir: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    """Start Azurite on three free ports; returns once all of them accept connections."""
    last_error = ""
    for _ in range(_ATTEMPTS):
        ports = _free_ports(3)
        log_path = workdir / f"azurite-{ports[0]}.log"
        command = [str(AZURITE), "--silent", "--inMemoryPersistence", "--skipApiVersionCheck",
                   "--disableTelemetry",
                   "--blobHost", "127.0.0.1", "--blobPort", str(ports[0]),
                   "--queueHost", "127.0.0.1", "--queuePort", str(ports[1]),
                   "--tableHost", "127.0.0.1", "--tablePort", str(ports[2])]  # fmt: skip
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: node and its children stop together
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            if all(_answers(port) for port in ports):
                return proc, ports
            time.sleep(0.05)
        _stop(proc)
        last_error = log_path.read_text(errors="replace")[-2000:]
    pytest.fail(f"Azurite did not start after {_ATTEMPTS} attempts; its output:\n{last_error}")


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string for a private in-memory Azurite (blob, queue and table)."""
    if not os.access(AZURITE, os.X_OK):
        pytest.fail(f"Azurite is not installed at {AZURITE}: run `make setup` (npm ci) first")
    proc, (blob, queue, table) = _start(tmp_path_factory.mktemp("azurite"))
    try:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{blob}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{queue}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{table}/{ACCOUNT};"
        )
    finally:
        _stop(proc)


@pytest.fixture
def storage_names() -> StorageNames:
    """Names no other test uses, so tests share one Azurite without seeing each other."""
    suffix = uuid.uuid4().hex[:20]
    return StorageNames(table=f"t{suffix}", container=f"c-{suffix}")
