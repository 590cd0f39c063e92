"""Which pushes get signed: repository/tag filters and the loop guard.

Patterns are shell globs matched case-sensitively over the whole name
(``fnmatch.fnmatchcase``); ``*`` also matches ``/``, so ``team-a/*`` covers every
repository below ``team-a/``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from signer.errors import InvalidReferenceError
from signer.mediatypes import NOTARY_SIGNATURE_ARTIFACT
from signer.models import Descriptor

_REFERRERS_TAG_RE = re.compile(r"^sha256-[a-f0-9]{64}\Z")
_GLOB_CHARS_RE = re.compile(r"^[a-z0-9._/*?\[\]!-]+$")


def is_referrers_tag(tag: str | None) -> bool:
    """The tag of a referrers tag-schema index (``sha256-<hex>``)."""
    return bool(tag) and bool(_REFERRERS_TAG_RE.match(tag or ""))


def signature_artifact_reason(manifest: Mapping[str, Any]) -> str | None:
    """Why a manifest is itself a signature (and must never be signed), or None.

    Both the form notation writes (config mediaType) and the OCI 1.1 form
    (top-level artifactType) count.
    """
    if manifest.get("artifactType") == NOTARY_SIGNATURE_ARTIFACT:
        return "its artifactType is the Notary signature type"
    config = manifest.get("config")
    if isinstance(config, Mapping) and config.get("mediaType") == NOTARY_SIGNATURE_ARTIFACT:
        return "its config media type is the Notary signature type"
    return None


def first_listed_artifact(manifest: Mapping[str, Any]) -> Descriptor | None:
    """The first entry when an image index has the shape of a referrers list, else None.

    A referrers tag-schema index lists artifacts, each descriptor carrying its
    ``artifactType`` (image-spec requires it there) and none a ``platform``; a multi-arch
    image index lists platform images. The shape alone does not prove it: the caller
    confirms by reading the entry, which a referrer's ``subject`` gives away.
    """
    if "subject" in manifest:
        return None
    entries = manifest.get("manifests")
    if not isinstance(entries, list) or not entries:
        return None
    for entry in entries:
        if not isinstance(entry, Mapping) or "platform" in entry:
            return None
        if not isinstance(entry.get("artifactType"), str) or not entry["artifactType"]:
            return None
    try:
        return Descriptor.from_json(entries[0])
    except InvalidReferenceError:
        return None  # not a descriptor a registry would have accepted in a referrers list


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


@dataclass(frozen=True)
class PushFilter:
    include_repositories: tuple[str, ...] = ("*",)
    exclude_repositories: tuple[str, ...] = ()
    include_tags: tuple[str, ...] = ("*",)
    exclude_tags: tuple[str, ...] = ()
    sign_untagged: bool = False

    def rejection(self, repository: str, tag: str | None) -> str | None:
        """Why a push is not to be signed, or None when it is."""
        if not _matches(repository, self.include_repositories):
            return f"repository {repository!r} matches no include pattern"
        if _matches(repository, self.exclude_repositories):
            return f"repository {repository!r} is excluded"
        if not tag:
            return None if self.sign_untagged else "untagged push (SIGNER_SIGN_UNTAGGED is off)"
        if not _matches(tag, self.include_tags):
            return f"tag {tag!r} matches no include pattern"
        if _matches(tag, self.exclude_tags):
            return f"tag {tag!r} is excluded"
        return None

    def suspicious_patterns(self) -> list[str]:
        """Patterns that can never match: likely typos worth a warning at start-up."""
        problems: list[str] = []
        for pattern in self.include_repositories + self.exclude_repositories:
            if not _GLOB_CHARS_RE.match(pattern):
                problems.append(
                    f"repository pattern {pattern!r} contains characters no repository name "
                    "has (names are lowercase letters, digits, . _ - and /)"
                )
        if not self.include_repositories:
            problems.append("no repository include pattern: nothing will be signed")
        for pattern in self.include_repositories:
            if _matches(pattern, self.exclude_repositories) and "*" not in pattern:
                problems.append(f"repository pattern {pattern!r} is both included and excluded")
        if "*" in self.exclude_repositories:
            problems.append("SIGNER_EXCLUDE_REPOSITORIES contains '*': nothing will be signed")
        if "*" in self.exclude_tags and not self.sign_untagged:
            problems.append(
                "SIGNER_EXCLUDE_TAGS contains '*' and untagged pushes are off: "
                "nothing will be signed"
            )
        return problems
