"""The Notary payload: ``{"targetArtifact": <descriptor>}``.

signature-specification.md, "Payload": only mediaType, digest, size and optional
annotations. Encoded the way notation (Go's encoding/json) encodes it, so that our
envelopes are byte-for-byte comparable with the reference tool's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from signer.errors import EnvelopeError, InvalidReferenceError
from signer.models import Descriptor

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_TARGET_FIELDS = {"mediaType", "digest", "size", "annotations"}


def go_json(value: Any) -> str:
    """Compact JSON as Go's json.Marshal writes it (HTML characters escaped, UTF-8 kept)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def build_payload(subject: Descriptor, annotations: Mapping[str, str] | None = None) -> bytes:
    target: dict[str, Any] = {
        "mediaType": subject.media_type,
        "digest": subject.digest,
        "size": subject.size,
    }
    if annotations:
        target["annotations"] = {k: annotations[k] for k in sorted(annotations)}
    return go_json({"targetArtifact": target}).encode()


def parse_payload(data: bytes) -> Descriptor:
    """The target artifact a payload pins, with its annotations (user metadata)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"payload is not JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"targetArtifact"}:
        raise EnvelopeError("payload must be an object with exactly one field, targetArtifact")
    target = doc["targetArtifact"]
    if not isinstance(target, dict):
        raise EnvelopeError("payload targetArtifact is not an object")
    extra = set(target) - _TARGET_FIELDS
    if extra:
        raise EnvelopeError(f"payload targetArtifact has unexpected fields: {sorted(extra)}")
    try:
        return Descriptor.from_json(target)
    except InvalidReferenceError as exc:
        raise EnvelopeError(f"payload targetArtifact: {exc}") from None
