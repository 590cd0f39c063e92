"""The real ``notation`` CLI (v1.3.2) with a private configuration directory.

Each ``Notation`` owns an ``XDG_CONFIG_HOME``: ``notation/trustpolicy.json``, trust stores
under ``notation/truststore/x509/{ca,signingAuthority,tsa}/<name>/`` and, for signing with
a local key, ``notation/signingkeys.json``. Nothing of the user's own notation setup is
read or changed, and tests running side by side do not see each other's policies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.servers.reference_tools import require_tool


@dataclass(frozen=True)
class NotationRun:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def __str__(self) -> str:
        return f"{' '.join(self.argv)} -> {self.exit_code}\n{self.stdout}{self.stderr}"


class Notation:
    def __init__(self, home: Path, binary: Path | None = None) -> None:
        self.binary = binary or require_tool("notation")
        self.home = home
        self.config = home / "notation"
        self.config.mkdir(parents=True, exist_ok=True)

    # --- configuration ------------------------------------------------------------------

    def trust(
        self, certificates: Iterable[x509.Certificate], name: str, store_type: str = "ca"
    ) -> Path:
        """Put ``certificates`` into the trust store ``<store_type>:<name>`` (replacing it)."""
        store = self.config / "truststore" / "x509" / store_type / name
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        for i, cert in enumerate(certificates):
            (store / f"cert{i}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return store

    def policy(self, document: Mapping[str, Any]) -> None:
        (self.config / "trustpolicy.json").write_text(json.dumps(document, indent=2))

    def simple_policy(
        self,
        scope: str,
        store: str,
        *,
        identities: Sequence[str] = ("*",),
        level: str = "strict",
        stores: Sequence[str] | None = None,
        verification: Mapping[str, Any] | None = None,
    ) -> None:
        """One statement for ``scope`` (``registry/repository`` or ``*``)."""
        self.policy(
            {
                "version": "1.0",
                "trustPolicies": [
                    {
                        "name": "interop",
                        "registryScopes": [scope],
                        "signatureVerification": {"level": level, **(verification or {})},
                        "trustStores": list(stores or [f"ca:{store}"]),
                        "trustedIdentities": list(identities),
                    }
                ],
            }
        )

    def signing_key(self, name: str, key: Path, chain: Path) -> None:
        """A local key for ``notation sign --key <name>`` (signingkeys.json)."""
        doc = {
            "default": name,
            "keys": [{"name": name, "keyPath": str(key), "certPath": str(chain)}],
        }
        (self.config / "signingkeys.json").write_text(json.dumps(doc, indent=2))

    # --- running -------------------------------------------------------------------------

    def run(self, *args: str, timeout: float = 60.0) -> NotationRun:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home),
            "XDG_CACHE_HOME": str(self.home / "cache"),
        }
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"):
            if name in os.environ:
                env[name] = os.environ[name]
        argv = (str(self.binary), *args)
        done = subprocess.run(
            argv, check=False, env=env, capture_output=True, text=True, timeout=timeout
        )
        return NotationRun(("notation", *args), done.returncode, done.stdout, done.stderr)

    def verify(
        self,
        reference: str,
        *,
        insecure: bool = True,
        user_metadata: Mapping[str, str] | None = None,
        verbose: bool = False,
    ) -> NotationRun:
        args = ["verify", reference]
        if insecure:
            args.append("--insecure-registry")
        for key, value in (user_metadata or {}).items():
            args += ["--user-metadata", f"{key}={value}"]
        if verbose:
            args.append("--verbose")
        return self.run(*args)

    def sign(
        self, reference: str, *, key: str, insecure: bool = True, extra: Sequence[str] = ()
    ) -> NotationRun:
        args = ["sign", reference, "--key", key, "--signature-format", "cose"]
        if insecure:
            args.append("--insecure-registry")
        return self.run(*args, *extra)
