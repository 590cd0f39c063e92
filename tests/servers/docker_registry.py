"""Debian's ``docker-registry`` (distribution 2.8) run as a child process on a free port.

It is the real registry the tag-schema path is proven against: no referrers
API, no ``OCI-Subject``, no single-POST uploads. Its access log (stdout) is
kept so tests and the benchmark can count the requests it actually served.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

DOCKER_REGISTRY = "/usr/bin/docker-registry"
HTPASSWD = "/usr/bin/htpasswd"
_LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
_ACCESS_RE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')


@dataclass(frozen=True)
class AccessLogEntry:
    method: str
    path: str
    status: int


class RegistryBinaryMissingError(RuntimeError):
    pass


def find_binary(name: str, default: str) -> str:
    found = shutil.which(name) or (default if Path(default).exists() else None)
    if found is None:
        raise RegistryBinaryMissingError(
            f"{name} not found (looked on PATH and at {default}); install it with "
            "`apt-get install -y docker-registry apache2-utils`"
        )
    return found


class DockerRegistry:
    """``docker-registry serve`` with filesystem storage under ``root``; http on 127.0.0.1."""

    def __init__(self, root: Path, *, htpasswd: tuple[str, str] | None = None) -> None:
        self.root = root
        self.credentials = htpasswd
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def host(self) -> str:
        if self._port is None:
            raise RuntimeError("docker-registry not started")
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the benchmark reads its CPU time)."""
        return self._process.pid if self._process is not None else None

    def _config(self) -> Path:
        auth = ""
        if self.credentials is not None:
            htpasswd_file = self.root / "htpasswd"
            line = subprocess.run(
                [find_binary("htpasswd", HTPASSWD), "-Bbn", *self.credentials],
                check=True,
                capture_output=True,
            ).stdout
            htpasswd_file.write_bytes(line)
            auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd_file}\n"
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            "http:\n  addr: 127.0.0.1:0\n  relativeurls: true\n" + auth
        )
        return config

    def start(self, timeout: float = 15.0) -> DockerRegistry:
        binary = find_binary("docker-registry", DOCKER_REGISTRY)
        self.root.mkdir(parents=True, exist_ok=True)
        config = self._config()
        self._stdout = (self.root / "access.log").open("wb")
        self._stderr_path = self.root / "registry.log"
        self._stderr = self._stderr_path.open("wb")
        self._process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=self._stdout, stderr=self._stderr
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"docker-registry exited: {self._stderr_path.read_text()[-2000:]}"
                )
            match = _LISTEN_RE.search(self._stderr_path.read_text(errors="replace"))
            if match:
                self._port = int(match.group(1))
                if self._ready():
                    return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer /v2/ within {timeout} s")

    def _ready(self) -> bool:
        try:
            answer = requests.get(f"{self.url}/v2/", timeout=1)
        except requests.RequestException:
            return False
        return answer.status_code in (200, 401)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
            self._stdout.close()
            self._stderr.close()

    def __enter__(self) -> DockerRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def access_log(
        self, repository: str | None = None, settle: float = 0.05
    ) -> list[AccessLogEntry]:
        """Requests the registry served (optionally only those for one repository).

        The registry writes a line as a request completes; waiting until the log
        stops growing for ``settle`` seconds makes counts right after a call exact.
        """
        path = self.root / "access.log"
        previous = None
        text = path.read_text(errors="replace")
        while text != previous:
            previous = text
            time.sleep(settle)
            text = path.read_text(errors="replace")
        entries = [
            AccessLogEntry(m["method"], m["path"], int(m["status"]))
            for m in _ACCESS_RE.finditer(text)
        ]
        if repository is None:
            return entries
        prefix = f"/v2/{repository}/"
        return [e for e in entries if e.path.startswith(prefix)]
