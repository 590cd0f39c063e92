"""Pure helpers for the manifests a signer writes and must recognise.

Byte-exact with notation v1.3.2: Go's ``encoding/json`` writes struct fields in
declaration order, map keys sorted, compact, and escapes ``<``, ``>``, ``&``,
U+2028 and U+2029. A verifier does not care about bytes, but matching the
reference tool keeps digests reproducible and comparisons with it trivial.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from signer.mediatypes import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    NOTARY_SIGNATURE_ARTIFACT,
    OCI_INDEX,
    OCI_MANIFEST,
)
from signer.models import Descriptor

_REFERRERS_TAG_RE = re.compile(r"^sha256-[a-f0-9]{64}$")
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def go_json(value: Any) -> bytes:
    """Compact JSON the way Go's encoding/json writes it (caller orders the keys)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group(0)], text).encode("utf-8")


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    if algorithm not in ("sha256", "sha512"):
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def descriptor_json(descriptor: Descriptor) -> dict[str, Any]:
    """OCI descriptor JSON with annotations sorted, as a Go map is marshalled."""
    out = descriptor.to_json()
    if "annotations" in out:
        out["annotations"] = dict(sorted(out["annotations"].items()))
    return out


def signature_manifest(
    subject: Descriptor,
    envelope: Descriptor,
    annotations: Mapping[str, str],
) -> bytes:
    """The signature manifest notation pushes: config is the ``{}`` blob typed as the artifact."""
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": NOTARY_SIGNATURE_ARTIFACT,
            "digest": EMPTY_JSON_DIGEST,
            "size": len(EMPTY_JSON),
        },
        "layers": [descriptor_json(envelope.plain())],
        "subject": descriptor_json(subject.plain()),
    }
    if annotations:
        body["annotations"] = dict(sorted(annotations.items()))
    return go_json(body)


def referrers_tag(subject_digest: str) -> str:
    """Tag of the referrers tag-schema index: ``<alg>-<hex>`` (distribution-spec v1.1)."""
    algorithm, _, hex_part = subject_digest.partition(":")
    return f"{algorithm}-{hex_part}"[:128]


def referrers_index(entries: list[dict[str, Any]]) -> bytes:
    """The tag-schema index: a plain OCI image index listing every referrer."""
    return go_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})


def artifact_type_of(manifest: Mapping[str, Any]) -> str | None:
    """What the referrers API reports: top-level artifactType, else the config media type."""
    artifact_type = manifest.get("artifactType")
    if isinstance(artifact_type, str) and artifact_type:
        return artifact_type
    config = manifest.get("config")
    if isinstance(config, Mapping):
        media_type = config.get("mediaType")
        if isinstance(media_type, str) and media_type:
            return media_type
    return None


def is_signature_manifest(manifest: Mapping[str, Any]) -> bool:
    """True for both Notary forms: notation's (config type) and OCI 1.1 (artifactType)."""
    if manifest.get("artifactType") == NOTARY_SIGNATURE_ARTIFACT:
        return True
    config = manifest.get("config")
    return isinstance(config, Mapping) and config.get("mediaType") == NOTARY_SIGNATURE_ARTIFACT


def has_subject(manifest: Mapping[str, Any]) -> bool:
    """A manifest with ``subject`` is a referrer (signature, SBOM...), never a thing to sign."""
    subject = manifest.get("subject")
    return isinstance(subject, Mapping) and isinstance(subject.get("digest"), str)


def is_referrers_tag(tag: str) -> bool:
    """``sha256-<64 hex>``: the tag under which the tag schema keeps a referrers index."""
    return bool(_REFERRERS_TAG_RE.match(tag))
