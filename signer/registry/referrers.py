"""Referrers of a subject, from the OCI 1.1 API or the ``sha256-<hex>`` tag schema.

The tag schema is a read-modify-write of one shared index: the listing keeps the
entries it read (raw, to write back fields this code does not model, such as
``platform``), and the push reads the index once more just before its PUT, so that a
referrer another writer added since the listing is never dropped (registries have no
conditional PUT for tags).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from signer.errors import InvalidReferenceError, RegistryError
from signer.http.urls import UnsafeUrlError, resolve
from signer.models import Descriptor

ReferrersSource = Literal["api", "tag-schema"]

_LINK_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class TagIndex:
    """The tag-schema index as read: its digest (None if absent) and raw entries."""

    digest: str | None
    entries: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ReferrerList:
    subject: Descriptor
    descriptors: tuple[Descriptor, ...]
    source: ReferrersSource
    tag_index: TagIndex | None = field(default=None, repr=False, compare=False)

    @property
    def signatures(self) -> tuple[Descriptor, ...]:
        """Notary Project signatures among the referrers (both manifest forms report this type)."""
        return tuple(d for d in self.descriptors if d.is_notary_signature)


def parse_index_entries(content: bytes, what: str) -> list[dict[str, Any]]:
    """The ``manifests`` array of an image index, as raw JSON objects."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        raise RegistryError(f"{what} is not valid JSON (or nested too deeply)") from None
    if not isinstance(body, dict):
        raise RegistryError(f"{what} is not a JSON object")
    manifests = body.get("manifests", [])
    if manifests is None:
        return []
    if not isinstance(manifests, list):
        raise RegistryError(f"{what} has a 'manifests' field that is not a list")
    return [m for m in manifests if isinstance(m, dict)]


def to_descriptors(entries: list[dict[str, Any]]) -> tuple[Descriptor, ...]:
    """Descriptors of well-formed entries; malformed ones cannot be referrers we act on."""
    out = []
    for entry in entries:
        try:
            out.append(Descriptor.from_json(entry))
        except InvalidReferenceError:
            continue
    return tuple(out)


def next_page(link_header: str | None, current_url: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, resolved against the current URL.

    The result may name any origin: the transport refuses to send registry credentials
    (or anything) to one that is not the registry's own.
    """
    if not link_header:
        return None
    match = _LINK_NEXT_RE.search(link_header)
    if not match:
        return None
    try:
        return resolve(current_url, match.group(1))
    except UnsafeUrlError as exc:
        raise RegistryError(f"the registry's next-page link is unusable: {exc}") from None


def merge_entries(
    existing: tuple[dict[str, Any], ...], extra: tuple[dict[str, Any], ...]
) -> list[dict[str, Any]]:
    """``existing`` then any of ``extra`` whose digest is new: the union, order kept."""
    merged: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in (*existing, *extra):
        digest = entry.get("digest")
        key = digest if isinstance(digest, str) else json.dumps(entry, sort_keys=True)
        if key not in seen:
            seen.add(key)
            merged.append(entry)
    return merged
