"""The local services the benchmark runs against, on free loopback ports.

Debian's ``docker-registry`` (distribution 2.8, tag schema) and Azurite come from the
test servers (``tests.servers.docker_registry``, ``tests.servers.azurite``), so the
benchmark and the suite start them the same way.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.servers.azurite import ACCOUNT, ACCOUNT_KEY, Azurite

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "ROOT", "Azurite", "docker_registry_version"]


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
