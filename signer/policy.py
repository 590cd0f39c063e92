"""Which pushes get signed: repository and tag filters (the loop guard is signer.loopguard).

Patterns are shell globs matched case-sensitively over the whole name
(``fnmatch.fnmatchcase``); ``*`` also matches ``/``, so ``team-a/*`` covers every
repository below ``team-a/``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

_GLOB_CHARS_RE = re.compile(r"^[a-z0-9._/*?\[\]!-]+$")


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
