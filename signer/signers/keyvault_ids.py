"""Key Vault object identifiers, as notation-azure-kv accepts them.

``https://<vault>/keys/<name>[/<version>]`` or ``https://<vault>/certificates/<name>[/<version>]``.
A certificate-backed key shares name and version with its certificate and secret, which is
what lets one id name all three. No version means "the latest", resolved through the
certificate so that the key version and the certificate version always match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from signer.errors import ConfigurationError

# Key Vault object names: 1-127 characters, alphanumerics and dashes; versions are 32 hex chars,
# but only the character set is enforced so that Managed HSM and future formats still parse.
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VERSION = re.compile(r"^[0-9A-Za-z]{1,64}$")
_KINDS = ("keys", "certificates")
_EXPECTED = "https://<vault>.vault.azure.net/keys/<name>[/<version>] (or /certificates/)"


@dataclass(frozen=True)
class KeyVaultId:
    vault_url: str  # scheme://host[:port], no trailing slash
    name: str
    version: str | None

    @property
    def key_id(self) -> str:
        """The kid Key Vault reports for this key (versionless if no version is pinned)."""
        return self._url("keys")

    @property
    def certificate_id(self) -> str:
        return self._url("certificates")

    def with_version(self, version: str) -> KeyVaultId:
        return KeyVaultId(self.vault_url, self.name, version)

    def _url(self, kind: str) -> str:
        base = f"{self.vault_url}/{kind}/{self.name}"
        return f"{base}/{self.version}" if self.version else base


def parse_key_vault_id(value: str, *, kinds: tuple[str, ...] = _KINDS) -> KeyVaultId:
    """Parse a key or certificate id; anything else is a ConfigurationError naming the shape."""
    text = (value or "").strip()
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigurationError(f"invalid Key Vault key id {text!r}: expected {_EXPECTED}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            f"invalid Key Vault key id {text!r}: no query, fragment or credentials allowed"
        )
    segments = parts.path.strip("/").split("/")
    if len(segments) not in (2, 3) or segments[0] not in kinds:
        raise ConfigurationError(f"invalid Key Vault key id {text!r}: expected {_EXPECTED}")
    name = segments[1]
    version = segments[2] if len(segments) == 3 else None
    if not _NAME.match(name):
        raise ConfigurationError(
            f"invalid Key Vault key id {text!r}: the name may hold only letters, digits and dashes"
        )
    if version is not None and not _VERSION.match(version):
        raise ConfigurationError(f"invalid Key Vault key id {text!r}: malformed version")
    return KeyVaultId(f"https://{parts.netloc.lower()}", name, version)


def same_key_id(a: str | None, b: str | None) -> bool:
    """Compare kids the way Key Vault treats them: host and names are case-insensitive."""
    if not a or not b:
        return False
    return a.rstrip("/").lower() == b.rstrip("/").lower()
