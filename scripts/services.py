"""Start and stop the local stand-ins for Azure: Debian's docker-registry and Azurite.

State lives under ``.dev/`` (git-ignored): data folders, generated configs, and a
``run/<name>.pid`` per process this tool started, so ``stop`` stops exactly those
and a service that was already running is reused, not restarted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / ".dev"
RUN = DEV / "run"

REGISTRY_HOST = "127.0.0.1:5000"
AZURITE_PORTS = (10000, 10001, 10002)  # UseDevelopmentStorage=true expects these


class ServiceError(RuntimeError):
    pass


@dataclass(frozen=True)
class Started:
    name: str
    started_here: bool  # False: it was already running and is left alone


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _wait(check: object, what: str, timeout: float) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise ServiceError(f"{what} did not come up within {timeout:.0f} s")


def _registry_answers() -> bool:
    try:
        with urllib.request.urlopen(f"http://{REGISTRY_HOST}/v2/", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _spawn(name: str, argv: list[str], log: Path) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
    (RUN / f"{name}.pid").write_text(str(proc.pid))


def start_registry() -> Started:
    if _registry_answers():
        return Started("registry", False)
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(binary).exists():
        raise ServiceError(
            "Debian's docker-registry is not installed: run `make setup` "
            "(apt-get install docker-registry)"
        )
    if _port_open(5000):
        raise ServiceError(
            f"port 5000 is taken by something that is not a registry at {REGISTRY_HOST}"
        )
    data = DEV / "registry" / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = DEV / "registry" / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {REGISTRY_HOST}\n  relativeurls: true\n"
    )
    _spawn("registry", [binary, "serve", str(config)], DEV / "registry" / "registry.log")
    _wait(_registry_answers, f"docker-registry at {REGISTRY_HOST}", 15)
    return Started("registry", True)


def start_azurite() -> Started:
    if all(_port_open(p) for p in AZURITE_PORTS):
        return Started("azurite", False)
    taken = [p for p in AZURITE_PORTS if _port_open(p)]
    if taken:
        raise ServiceError(f"Azurite's ports {taken} are taken by something else")
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise ServiceError("Azurite is not installed: run `make setup` (npm ci)")
    location = DEV / "azurite"
    location.mkdir(parents=True, exist_ok=True)
    argv = [
        str(binary),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--location",
        str(location),
        "--blobHost",
        "127.0.0.1",
        "--queueHost",
        "127.0.0.1",
        "--tableHost",
        "127.0.0.1",
    ]
    _spawn("azurite", argv, location / "azurite.log")
    _wait(lambda: all(_port_open(p) for p in AZURITE_PORTS), "Azurite", 30)
    return Started("azurite", True)


def stop(name: str) -> bool:
    """Stop a service this tool started; False when there was none."""
    pid_file = RUN / f"{name}.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _reap(pid)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when this process started it (a zombie still 'exists')."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_all() -> list[str]:
    return [name for name in ("func", "registry", "azurite") if stop(name)]
