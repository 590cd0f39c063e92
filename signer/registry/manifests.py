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

from signer.errors import InvalidReferenceError, RegistryError
from signer.mediatypes import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    NOTARY_SIGNATURE_ARTIFACT,
    OCI_INDEX,
    OCI_MANIFEST,
)
from signer.models import Descriptor

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


def signature_layer(content: bytes, what: str) -> Descriptor:
    """The one layer (the envelope) of a signature manifest; RegistryError if it has not one."""
    try:
        manifest = json.loads(content)
    except (ValueError, RecursionError):
        raise RegistryError(f"{what} is not valid JSON") from None
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    if not isinstance(layers, list) or len(layers) != 1:
        raise RegistryError(f"{what} must have exactly one layer (the signature envelope)")
    try:
        return Descriptor.from_json(layers[0])
    except InvalidReferenceError as exc:
        raise RegistryError(f"{what}: its layer is not a valid descriptor: {exc}") from None
