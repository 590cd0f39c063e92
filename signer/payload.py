"""The Notary payload: ``{"targetArtifact": <descriptor>}``.

signature-specification.md, "Payload": the descriptor MUST have mediaType, digest and
size and MAY have annotations; an OCI descriptor may carry more (artifactType, urls,
platform, ...). Written the way notation (Go's encoding/json) writes it, so our
envelopes are byte-for-byte comparable with the reference tool's.

Two readers: ``read_payload`` reads someone else's payload exactly as notation v1.3.2
does (Go's ``json.Unmarshal`` into ``struct{TargetArtifact ocispec.Descriptor}``), so the
verifier reaches notation's verdict; ``parse_payload`` accepts only the bytes
``build_payload`` writes, for the signer's check of its own envelope.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
from collections.abc import Callable, Mapping
from typing import Any

from signer.errors import EnvelopeError, InvalidReferenceError
from signer.models import Descriptor
from signer.untrusted import untrusted

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_INT64 = range(-(2**63), 2**63)


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
    """Our own payload: exactly the bytes ``build_payload`` writes for what it names."""
    target = read_payload(data)
    if data != build_payload(target.plain(), target.annotations or None):
        raise EnvelopeError("payload is not in the canonical form this signer writes")
    return target


# --- reading as Go's encoding/json does ------------------------------------------------


def _go_replace(error: UnicodeError) -> tuple[str, int]:
    """Go replaces each invalid UTF-8 byte in a JSON string with U+FFFD, one per byte."""
    assert isinstance(error, UnicodeDecodeError)
    return "\ufffd", error.start + 1


codecs.register_error("signer-go-utf8", _go_replace)

# Go matches JSON keys to struct fields case-insensitively (bytes.EqualFold): ASCII
# letters, plus the two non-ASCII letters that fold to ASCII (Kelvin sign, long s).
_FOLD = str.maketrans(
    {**{chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)}, "\u212a": "k", "\u017f": "s"}
)


def _field(key: str, names: Mapping[str, str]) -> str | None:
    return names.get(key.translate(_FOLD))


class _Object(list[tuple[str, Any]]):
    """A JSON object as its members in order, duplicates kept: Go applies each in turn."""


class _Number(str):
    """A JSON number that is not a small integer literal (Go will not put it in an int64)."""


def _integer(literal: str) -> int | _Number:
    # int64 has at most 19 digits; longer literals stay text (no 4,300-digit limit hit)
    return int(literal) if len(literal) <= 20 else _Number(literal)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _type_error(where: str, expected: str) -> EnvelopeError:
    return EnvelopeError(f"payload {where} must be {expected}")


def _string(value: Any, where: str, current: str) -> str:
    if value is None:  # Go: null leaves a string unchanged
        return current
    if not isinstance(value, str):
        raise _type_error(where, "a string")
    return _go_string(value)


def _go_string(value: str) -> str:
    # a lone surrogate (from a "\ud800" escape) becomes U+FFFD in Go
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _strings(value: Any, where: str) -> None:
    if value is None:
        return
    if not _is_array(value) or not all(v is None or isinstance(v, str) for v in value):
        raise _type_error(where, "an array of strings")


def _is_array(value: Any) -> bool:
    return isinstance(value, list) and not isinstance(value, _Object)


def _platform(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, _Object):
        raise _type_error("targetArtifact.platform", "an object")
    names = {"architecture": "s", "os": "s", "os.version": "s", "variant": "s", "os.features": "a"}
    for key, item in value:
        kind = _field(key, {n: n for n in names})
        if kind is None:
            continue
        if names[kind] == "s":
            _string(item, f"targetArtifact.platform.{kind}", "")
        else:
            _strings(item, f"targetArtifact.platform.{kind}")


def _set_string(target: dict[str, Any], name: str, value: Any) -> None:
    target[name] = _string(value, f"targetArtifact.{name}", target[name])


def _set_size(target: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value not in _INT64:
        raise _type_error("targetArtifact.size", "an integer (int64)")
    target[name] = value


def _set_annotations(target: dict[str, Any], name: str, value: Any) -> None:
    if value is None:  # Go: null sets a map to nil
        target[name] = None
        return
    if not isinstance(value, _Object):
        raise _type_error("targetArtifact.annotations", "an object of strings")
    annotations = target[name] if target[name] is not None else {}
    for key, item in value:  # Go keeps the map's earlier entries
        annotations[_go_string(key)] = _string(item, f"targetArtifact.annotations[{key!r}]", "")
    target[name] = annotations


def _check_urls(target: dict[str, Any], name: str, value: Any) -> None:
    _strings(value, "targetArtifact.urls")


def _check_data(target: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _type_error("targetArtifact.data", "a base64 string")
    try:  # Go's base64 decoder skips CR and LF
        base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise _type_error("targetArtifact.data", "standard base64") from None


def _check_platform(target: dict[str, Any], name: str, value: Any) -> None:
    _platform(value)


# ocispec.Descriptor (image-spec v1.1.1, as notation-go v1.3.2 pins): each field's decoder
_DESCRIPTOR: dict[str, Callable[[dict[str, Any], str, Any], None]] = {
    "mediaType": _set_string,
    "digest": _set_string,
    "size": _set_size,
    "urls": _check_urls,
    "annotations": _set_annotations,
    "data": _check_data,
    "platform": _check_platform,
    "artifactType": _set_string,
}
_DESCRIPTOR_FIELDS = {name.lower(): name for name in _DESCRIPTOR}


def _merge_target(target: dict[str, Any], members: _Object) -> None:
    """Decode one targetArtifact object into ``target`` the way Go fills a struct."""
    for key, value in members:
        name = _field(key, _DESCRIPTOR_FIELDS)
        if name is not None:
            _DESCRIPTOR[name](target, name, value)


def read_payload(data: bytes) -> Descriptor:
    """The target artifact a payload pins, read as notation v1.3.2 reads it.

    UTF-8 only (a BOM or UTF-16 is a syntax error in Go); keys match case-insensitively;
    unknown members are ignored; a repeated member is applied again over the first;
    a known member of the wrong JSON type fails. Nesting deeper than Python's recursion
    limit (about 1,000) fails here, where Go allows 10,000.
    """
    with untrusted("payload is not JSON", EnvelopeError):
        doc = json.loads(
            data.decode("utf-8", "signer-go-utf8"),
            object_pairs_hook=_Object,
            parse_float=_Number,
            parse_int=_integer,
            parse_constant=_reject_constant,
        )
    if not isinstance(doc, _Object):
        raise EnvelopeError("payload must be a JSON object with a targetArtifact")
    target: dict[str, Any] = dict.fromkeys(("mediaType", "digest", "artifactType"), "")
    target.update(size=0, annotations=None)
    found = False
    for key, value in doc:
        if _field(key, {"targetartifact": "targetArtifact"}) is None or value is None:
            continue
        if not isinstance(value, _Object):
            raise _type_error("targetArtifact", "an object")
        _merge_target(target, value)
        found = True
    if not found:
        raise EnvelopeError("payload has no targetArtifact object")
    try:
        return Descriptor(
            media_type=target["mediaType"],
            digest=target["digest"],
            size=target["size"],
            annotations=target["annotations"],
            artifact_type=target["artifactType"] or None,
        )
    except InvalidReferenceError as exc:
        raise EnvelopeError(f"payload targetArtifact: {exc}") from None
