"""Azurite, the Azure Storage emulator, in memory on three free loopback ports.

One class for the test fixtures (``tests/plugins/azurite.py``) and the benchmark:
node_modules/.bin/azurite in its own process group, so node and its children stop
together, on ports probed free just before (a start that loses a port to someone
else is retried).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft); never a real secret.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT = 20.0
_ATTEMPTS = 3  # a free port can be taken by someone else between probing and binding


class AzuriteError(RuntimeError):
    """Azurite is not installed or did not come up."""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue


class Azurite:
    """``with Azurite(workdir) as azurite:`` a private Azurite; ``connection_string`` reaches it."""

    def __init__(self, workdir: Path, *, start_timeout: float = START_TIMEOUT) -> None:
        self.workdir = workdir
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: list[int] = []

    @property
    def connection_string(self) -> str:
        if not self._ports:
            raise AzuriteError("Azurite is not started")
        blob, queue, table = self._ports
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{blob}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{queue}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{table}/{ACCOUNT};"
        )

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @staticmethod
    def version() -> str:
        package = ROOT / "node_modules" / "azurite" / "package.json"
        try:
            return str(json.loads(package.read_text())["version"])
        except (OSError, ValueError, KeyError):
            return "unknown"

    def start(self) -> Azurite:
        if not os.access(AZURITE, os.X_OK):
            raise AzuriteError(f"Azurite is not installed at {AZURITE}: run `make setup` (npm ci)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        last = ""
        for _ in range(_ATTEMPTS):
            ports = _free_ports(3)
            log_path = self.workdir / f"azurite-{ports[0]}.log"
            command = [str(AZURITE), "--silent", "--inMemoryPersistence", "--skipApiVersionCheck",
                       "--disableTelemetry",
                       "--blobHost", "127.0.0.1", "--blobPort", str(ports[0]),
                       "--queueHost", "127.0.0.1", "--queuePort", str(ports[1]),
                       "--tableHost", "127.0.0.1", "--tablePort", str(ports[2])]  # fmt: skip
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    command,
                    cwd=self.workdir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if all(_answers(port) for port in ports):
                    self._proc, self._ports = proc, ports
                    return self
                time.sleep(0.05)
            _stop_group(proc)
            last = log_path.read_text(errors="replace")[-2000:]
        raise AzuriteError(f"Azurite did not start after {_ATTEMPTS} attempts; its output:\n{last}")

    def stop(self) -> None:
        if self._proc is not None:
            _stop_group(self._proc)
            self._proc = None
            self._ports = []

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
