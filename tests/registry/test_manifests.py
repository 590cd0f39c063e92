"""Signature manifest and referrers index bytes against what notation v1.3.2 wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signer.mediatypes import NOTARY_SIGNATURE_ARTIFACT, OCI_EMPTY, OCI_MANIFEST
from signer.models import Descriptor
from signer.registry.manifests import (
    descriptor_json,
    digest_of,
    go_json,
    has_subject,
    is_referrers_tag,
    is_signature_manifest,
    referrers_index,
    referrers_tag,
    signature_manifest,
)

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "notary-vectors"
POSITIVE = sorted(p.parent for p in (VECTORS / "positive").glob("*/signature-manifest.json"))
CASES = [*POSITIVE, VECTORS / "tag-schema"]


def _descriptor(path: Path) -> Descriptor:
    return Descriptor.from_json(json.loads(path.read_text()))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_signature_manifest_is_byte_identical_to_notation(case: Path) -> None:
    expected = (case / "signature-manifest.json").read_bytes()
    parsed = json.loads(expected)
    envelope = (case / ("envelope.jws" if "jws" in case.name else "envelope.cose")).read_bytes()
    layer = parsed["layers"][0]
    envelope_descriptor = Descriptor(layer["mediaType"], digest_of(envelope), len(envelope))
    assert envelope_descriptor.digest == layer["digest"]

    built = signature_manifest(
        _descriptor(case / "subject-descriptor.json"),
        envelope_descriptor,
        dict(reversed(parsed["annotations"].items())),  # order given must not matter
    )

    assert built == expected
    assert digest_of(built) == _descriptor(case / "signature-manifest-descriptor.json").digest


def test_referrers_index_is_byte_identical_to_notation() -> None:
    case = VECTORS / "tag-schema"
    manifest = json.loads((case / "signature-manifest.json").read_bytes())
    signature = _descriptor(case / "signature-manifest-descriptor.json")
    entry = Descriptor(
        signature.media_type,
        signature.digest,
        signature.size,
        annotations=manifest["annotations"],
        artifact_type=NOTARY_SIGNATURE_ARTIFACT,
    )
    assert (
        referrers_index([descriptor_json(entry)])
        == (case / "referrers-tag-index.json").read_bytes()
    )
    subject = _descriptor(case / "subject-descriptor.json")
    assert (
        referrers_tag(subject.digest)
        == json.loads((case / "referrers-tag-index-descriptor.json").read_text())["tag"]
    )


def test_go_json_escapes_like_encoding_json() -> None:
    assert go_json({"a": "<&>\u2028é"}) == b'{"a":"\\u003c\\u0026\\u003e\\u2028\xc3\xa9"}'


def test_loop_guard_recognises_both_signature_forms() -> None:
    notation_form = json.loads((VECTORS / "tag-schema" / "signature-manifest.json").read_text())
    oci11_form = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": NOTARY_SIGNATURE_ARTIFACT,
        "config": {"mediaType": OCI_EMPTY, "digest": "sha256:" + "0" * 64, "size": 2},
        "layers": [],
        "subject": notation_form["subject"],
    }
    image = json.loads((VECTORS / "tag-schema" / "subject-manifest.json").read_text())
    sbom = {**oci11_form, "artifactType": "application/spdx+json"}

    assert is_signature_manifest(notation_form)
    assert is_signature_manifest(oci11_form)
    assert not is_signature_manifest(image)
    assert not is_signature_manifest(sbom)
    assert has_subject(notation_form) and has_subject(sbom)
    assert not has_subject(image)
    assert not has_subject({"subject": "sha256:abc"})


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("sha256-" + "a" * 64, True),
        ("sha256-ca67b47453933b6977f78ff309eb2ba8d43a536309c81b8a28291e81eda9f056", True),
        ("sha256-" + "a" * 63, False),
        ("sha256-" + "A" * 64, False),
        ("sha512-" + "a" * 64, False),
        ("latest", False),
        ("sha256-" + "a" * 64 + "x", False),
    ],
)
def test_is_referrers_tag(tag: str, expected: bool) -> None:
    assert is_referrers_tag(tag) is expected
