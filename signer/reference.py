"""Artifact references: ``<registry>/<repository>(:<tag>|@<digest>)``.

Grammar from the OCI distribution-spec (repository names) and image-spec (tags,
digests). Anything outside it is rejected with a message that says which part is
wrong; nothing is normalised silently (no default registry, no ``latest``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from signer.errors import InvalidReferenceError
from signer.models import validate_digest

# distribution-spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
# \Z, not $: "$" also matches before a trailing newline ("repo\n" would pass)
REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*\Z")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")
# host[:port]; a hostname of labels or an IPv4 address, or a bracketed IPv6 literal.
_HOST_RE = re.compile(
    r"^(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z"
)
MAX_REPOSITORY_LENGTH = 255  # ACR's limit, and well above what registries use


def validate_registry(host: str) -> str:
    if not isinstance(host, str) or not _HOST_RE.match(host):
        raise InvalidReferenceError(f"invalid registry host {host!r}")
    if ":" in host.rsplit("]", 1)[-1]:
        port = int(host.rsplit(":", 1)[1])
        if not 0 < port < 65536:
            raise InvalidReferenceError(f"invalid registry port in {host!r}")
    return host.lower()


def validate_repository(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidReferenceError("repository name is empty")
    if len(name) > MAX_REPOSITORY_LENGTH:
        raise InvalidReferenceError(
            f"repository name is {len(name)} characters long (at most {MAX_REPOSITORY_LENGTH})"
        )
    if not REPOSITORY_RE.match(name):
        raise InvalidReferenceError(
            f"invalid repository name {name[:100]!r}: lowercase letters, digits and "
            "separators (. _ __ -) between path components joined by /"
        )
    return name


def validate_tag(tag: str) -> str:
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        raise InvalidReferenceError(
            f"invalid tag {str(tag)[:140]!r}: 1-128 of [A-Za-z0-9_.-], not starting with . or -"
        )
    return tag


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "registry", validate_registry(self.registry))
        validate_repository(self.repository)
        if self.tag is not None:
            validate_tag(self.tag)
        if self.digest is not None:
            validate_digest(self.digest)
        if self.tag is None and self.digest is None:
            raise InvalidReferenceError(
                f"reference {self.registry}/{self.repository} names neither a tag nor a digest"
            )

    @property
    def target(self) -> str:
        """What to resolve at the registry: the digest when there is one, else the tag."""
        return self.digest or self.tag or ""

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @classmethod
    def parse(cls, text: str) -> Reference:
        if not isinstance(text, str) or not text:
            raise InvalidReferenceError("reference is empty")
        if len(text) > 1024 or not text.isascii() or not text.isprintable():
            raise InvalidReferenceError("reference must be at most 1024 printable ASCII characters")
        registry, sep, rest = text.partition("/")
        if not sep or not rest:
            raise InvalidReferenceError(
                f"reference {text!r} has no registry: expected <registry>/<repository>:<tag> "
                "or <registry>/<repository>@<digest>"
            )
        digest = None
        if "@" in rest:
            rest, _, digest = rest.partition("@")
        tag = None
        # a ':' after the last '/' separates the tag (a registry port is before the first '/')
        last = rest.rsplit("/", 1)[-1]
        if ":" in last:
            rest, _, tag = rest.rpartition(":")
        return cls(registry, rest, tag, digest)
