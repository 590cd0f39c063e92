"""The loop guard: what the signer must never sign, because it made it or it refers to something.

Pushing a signature raises an ``ImagePushed`` event too, and so does every other referrer
(SBOMs, attestations) and every tag-schema index; signing those would loop or pile up
signatures of signatures. Recognised here, in one place:

* by tag, before anything is read: ``sha256-<hex>`` is a tag-schema referrers index;
* by manifest: both Notary forms (notation's config media type, the OCI 1.1
  ``artifactType``), anything with a ``subject``, and an image index shaped like a
  referrers list (every entry an artifact, none a platform) whose first entry is a
  referrer (one extra read, only for indexes of that shape).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from signer.errors import InvalidReferenceError, NotFoundError, PermanentError
from signer.mediatypes import INDEX_MEDIA_TYPES, NOTARY_SIGNATURE_ARTIFACT
from signer.models import Descriptor, Skipped

_REFERRERS_TAG_RE = re.compile(r"^sha256-[a-f0-9]{64}\Z")

#: reads one manifest of the repository by descriptor (the registry's ``fetch_manifest``)
FetchManifest = Callable[[Descriptor], bytes]


def is_referrers_tag(tag: str | None) -> bool:
    """The tag of a referrers tag-schema index (``sha256-<hex>``)."""
    return bool(tag) and bool(_REFERRERS_TAG_RE.match(tag or ""))


def by_tag(tag: str | None, digest: str | None = None) -> Skipped | None:
    if is_referrers_tag(tag):
        return Skipped(
            None,
            "is_referrers_index",
            f"tag {tag} is a referrers tag-schema index",
            for_digest=digest,
        )
    return None


def signature_artifact_reason(manifest: Mapping[str, Any]) -> str | None:
    """Why a manifest is itself a signature (and must never be signed), or None."""
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


def by_manifest(
    subject: Descriptor, manifest: Mapping[str, Any], fetch: FetchManifest
) -> Skipped | None:
    """Skip our own kind: signatures, referrers of any kind, tag-schema indexes."""
    reason = signature_artifact_reason(manifest)
    if reason is not None:
        return Skipped(subject, "is_signature", f"artifact is a signature: {reason}")
    if "subject" in manifest:
        return Skipped(
            subject, "is_referrer", "artifact refers to another artifact (it has a subject)"
        )
    return _untagged_referrers_index(subject, manifest, fetch)


def _untagged_referrers_index(
    subject: Descriptor, manifest: Mapping[str, Any], fetch: FetchManifest
) -> Skipped | None:
    """A tag-schema index pushed without its tag (or an earlier one the tag moved off).

    A listed artifact with a ``subject``, or one deleted since, means a referrers list:
    not signed. A transient failure is raised (the event is retried); an entry that cannot
    be read for another reason proves nothing, and the index is signed like any other.
    """
    if subject.media_type not in INDEX_MEDIA_TYPES:
        return None
    first = first_listed_artifact(manifest)
    if first is None:
        return None
    of: str | None = None
    try:
        body = fetch(first)
    except NotFoundError:
        pass  # a listed referrer deleted since: still not an image to sign
    except PermanentError:
        return None
    else:
        try:
            entry = json.loads(body)
        except (ValueError, RecursionError):
            return None
        referred = entry.get("subject") if isinstance(entry, dict) else None
        if not isinstance(referred, Mapping):
            return None  # an index of artifacts a user pushed: signed like any other
        of = referred.get("digest") if isinstance(referred.get("digest"), str) else None
    return Skipped(
        subject,
        "is_referrers_index",
        f"image index lists only referrers{f' of {of}' if of else ''} "
        "(a referrers tag-schema index)",
    )
