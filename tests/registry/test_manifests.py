"""Signature manifest and referrers index bytes against what notation v1.3.2 wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signer.loopguard import signature_artifact_reason
from signer.mediatypes import NOTARY_SIGNATURE_ARTIFACT, OCI_EMPTY, OCI_MANIFEST
from signer.models import Descriptor
from signer.registry.manifests import (
    descriptor_json,
    digest_of,
    go_json,
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

    # the production loop guard (signer.policy), on the bytes notation wrote
    assert signature_artifact_reason(notation_form) is not None
    assert signature_artifact_reason(oci11_form) is not None
    assert signature_artifact_reason(image) is None
    assert signature_artifact_reason(sbom) is None
