"""olareg v0.1.2, a real OCI 1.1 registry with the referrers API, as a child process.

Directory storage under a temporary folder, garbage collection off (short tests must not
lose an untagged manifest half-way), deletes enabled (tests remove signatures the way
``oras manifest delete`` does). olareg has no "port 0": a free port is picked by binding
one and releasing it, and the start is retried on the rare collision.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import requests

from tests.servers.reference_tools import require_tool


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Olareg:
    """``olareg serve`` on 127.0.0.1 (plain http); ``with Olareg(root) as registry: ...``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def host(self) -> str:
        if self._port is None:
            raise RuntimeError("olareg not started")
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the benchmark reads its CPU time)."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 15.0) -> Olareg:
        binary = require_tool("olareg")
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        log_path = self.root / "olareg.log"
        for _ in range(5):
            port = _free_port()
            self._log = log_path.open("ab")
            self._process = subprocess.Popen(
                [
                    str(binary),
                    "serve",
                    "--store-type",
                    "dir",
                    "--dir",
                    str(self.root / "data"),
                    "--addr",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--gc-frequency",
                    "-1s",
                    "--api-delete",
                ],
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            self._port = port
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._process.poll() is None:
                if self._ready():
                    return self
                time.sleep(0.02)
            self.stop()  # exited (port taken) or never answered: try another port
        raise RuntimeError(f"olareg did not start: {log_path.read_text(errors='replace')[-2000:]}")

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/v2/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
            self._log.close()

    def __enter__(self) -> Olareg:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
