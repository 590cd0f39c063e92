"""The local services the benchmark runs against, on free loopback ports.

Debian's ``docker-registry`` (distribution 2.8, tag schema) comes from
``tests.servers.docker_registry``; Azurite is started here (in memory, its own
process group) the way ``tests/plugins/azurite.py`` does, without pytest.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
AZURITE = ROOT / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft); not a secret.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_START_TIMEOUT = 30.0
_ATTEMPTS = 3


class ServiceError(RuntimeError):
    pass


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


class Azurite:
    """``azurite --inMemoryPersistence`` on three free loopback ports."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: list[int] = []

    @property
    def connection_string(self) -> str:
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

    def version(self) -> str:
        package = ROOT / "node_modules" / "azurite" / "package.json"
        try:
            import json  # noqa: PLC0415 - only for this one read

            return str(json.loads(package.read_text())["version"])
        except (OSError, ValueError, KeyError):
            return "unknown"

    def start(self) -> Azurite:
        if not os.access(AZURITE, os.X_OK):
            raise ServiceError(f"Azurite is not installed at {AZURITE}: run `make setup`")
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
            deadline = time.monotonic() + _START_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None:
                if all(_answers(port) for port in ports):
                    self._proc, self._ports = proc, ports
                    return self
                time.sleep(0.05)
            _stop_group(proc)
            last = log_path.read_text(errors="replace")[-2000:]
        raise ServiceError(f"Azurite did not start after {_ATTEMPTS} attempts:\n{last}")

    def stop(self) -> None:
        if self._proc is not None:
            _stop_group(self._proc)
            self._proc = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


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


def docker_registry_version() -> str:
    try:
        out = subprocess.run(
            ["/usr/bin/docker-registry", "--version"],
            capture_output=True,
            check=True,
            timeout=10,
            text=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.strip()
