"""Secret bookkeeping for the resilience suite: what must never show up in a log or error.

A ``SecretBook`` collects every secret value a test puts in play (registry passwords,
ACR refresh/access tokens, managed-identity tokens, the identity header, private key
PEM); ``find_leaks`` scans texts (formatted log records with their tracebacks, error
messages, HTTP answers) for any of them and for fragments that betray a credential
whatever its value (a private key header, an ``Authorization:`` header line, a JWT
after ``Bearer``).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.servers.docker_registry import DockerRegistry
from tests.servers.msi import ManagedIdentityServer
from tests.servers.oci_registry import OciRegistry

FORBIDDEN_FRAGMENTS = (
    "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----BEGIN EC PRIVATE KEY-----",
    "Authorization:",
    "authorization:",
    "Bearer ey",
)
_MIN_SECRET = 8  # shorter values would match by accident (and are not secrets)
_FORMATTER = logging.Formatter("%(levelname)s %(name)s %(message)s")


class SecretBook:
    """Secret strings known to a test; thread-safe (token issuers run in server threads)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    @property
    def values(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)

    def add(self, value: str | None) -> None:
        if value and len(value) >= _MIN_SECRET:
            with self._lock:
                self._values.add(value)

    def add_basic(self, user: str, password: str) -> None:
        self.add(password)
        self.add(base64.b64encode(f"{user}:{password}".encode()).decode())

    def add_pem(self, pem: str) -> None:
        """Every base64 line of a PEM body (a leak of any part of the key counts)."""
        for raw in pem.splitlines():
            line = raw.strip()
            if line and not line.startswith("-----"):
                self.add(line)

    def add_key_file(self, path: Path) -> None:
        self.add_pem(path.read_text())

    def add_msi(self, server: ManagedIdentityServer) -> None:
        self.add(server.identity_header)
        with server._lock:
            issued = list(server._issued)
        for token in issued:
            self.add(token)

    def add_docker_registry(self, registry: DockerRegistry) -> None:
        if registry.credentials is not None:
            self.add_basic(*registry.credentials)

    def watch_oci(self, registry: OciRegistry) -> None:
        """Record every token the registry issues from now on (ACR refresh and access)."""
        issuer = registry.tokens
        original = issuer.issue

        def issue(
            kind: str, subject: str, ttl: float, access: dict[str, list[str]] | None = None
        ) -> str:
            token = original(kind, subject, ttl, access)
            self.add(token)
            return token

        issuer.issue = issue  # type: ignore[method-assign]
        for user, password in registry.users.items():
            self.add_basic(user, password)

    def add_from(self, value: Any) -> None:
        """Whatever secrets a fixture value holds (servers, the dev certificate paths)."""
        if isinstance(value, ManagedIdentityServer):
            self.add_msi(value)
        elif isinstance(value, DockerRegistry):
            self.add_docker_registry(value)
        elif isinstance(value, OciRegistry):
            for user, password in value.users.items():
                self.add_basic(user, password)
        elif isinstance(value, dict) and isinstance(value.get("key"), Path):
            key = value["key"]
            if key.exists():
                self.add_key_file(key)


def record_text(record: logging.LogRecord) -> str:
    """A log record as a handler would write it, traceback included."""
    text = _FORMATTER.format(record)
    if record.exc_info and not record.exc_text:
        text += "\n" + _FORMATTER.formatException(record.exc_info)
    return text


def find_leaks(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """``"<what> in: <excerpt>"`` for every text holding a secret or a forbidden fragment."""
    secret_list = [s for s in secrets if s]
    found = []
    for text in texts:
        for fragment in FORBIDDEN_FRAGMENTS:
            if fragment in text:
                found.append(f"{fragment!r} in: {_excerpt(text, fragment)}")
        for secret in secret_list:
            if secret in text:
                found.append(f"secret {secret[:4]}... in: {_excerpt(text, secret)}")
    return found


def _excerpt(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 80) : at].replace("\n", " ") + "<<SECRET>>"
