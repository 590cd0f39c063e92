"""``inspect_signature`` against `notation inspect -o json`, and on broken envelopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from signer.mediatypes import COSE_MEDIA_TYPE
from signer.verifier import inspect_signature
from tests.verifier.vectors import Case, case, cases

NOTATION_ALGORITHMS = {
    "RSASSA-PSS-SHA-256": "PS256",
    "RSASSA-PSS-SHA-384": "PS384",
    "RSASSA-PSS-SHA-512": "PS512",
    "ECDSA-SHA-256": "ES256",
    "ECDSA-SHA-384": "ES384",
    "ECDSA-SHA-512": "ES512",
}
INSPECTED = [c for c in cases() if (c.path / "inspect.json").exists()]


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.mark.parametrize("vector", INSPECTED, ids=lambda c: c.name)
def test_summary_matches_notation_inspect(vector: Case) -> None:
    (theirs,) = json.loads((vector.path / "inspect.json").read_text())["Signatures"]
    ours = inspect_signature(vector.envelope, vector.media_type)
    assert ours.error is None
    assert ours.media_type == theirs["mediaType"]
    assert ours.algorithm == NOTATION_ALGORITHMS[theirs["signatureAlgorithm"]]
    signed = theirs["signedAttributes"]
    assert ours.signing_scheme == signed["signingScheme"]
    assert ours.signing_time == _when(signed["signingTime"])
    assert ours.expiry == (_when(signed["expiry"]) if "expiry" in signed else None)
    assert ours.signing_agent == theirs["unsignedAttributes"]["signingAgent"]
    assert dict(ours.user_metadata) == (theirs["userDefinedAttributes"] or {})
    assert [c.sha256 for c in ours.certificates] == [
        c["SHA256Fingerprint"] for c in theirs["certificates"]
    ]
    assert [c.not_after for c in ours.certificates] == [
        _when(c["expiry"]) for c in theirs["certificates"]
    ]
    assert ours.signed_artifact is not None
    assert ours.signed_artifact.plain().to_json() == theirs["signedArtifact"]
    assert ours.to_json()["signedArtifact"] == theirs["signedArtifact"]
    as_json = ours.to_json()
    assert as_json["signingTime"] == signed["signingTime"]
    layer = json.loads((vector.path / "signature-manifest.json").read_text())["layers"][0]
    assert ours.digest == layer["digest"]


def test_rejected_envelope_is_still_shown() -> None:
    vector = case("x5chain-in-protected")
    summary = inspect_signature(vector.envelope, vector.media_type)
    assert summary.error is not None and "x5chain" in summary.error
    assert summary.algorithm == "PS256"
    assert len(summary.certificates) == 1  # read from the protected header anyway
    assert summary.signed_artifact is not None


def test_unknown_critical_header_is_shown_with_the_reason() -> None:
    summary = inspect_signature(case("unknown-critical-header").envelope, COSE_MEDIA_TYPE)
    assert summary.error is not None and "unknown critical headers" in summary.error
    assert summary.signing_time is not None and summary.certificates


@pytest.mark.parametrize(
    ("blob", "media_type"),
    [(b"\x00\x01garbage", COSE_MEDIA_TYPE), (b"{", "application/jose+json"), (b"x", "text/plain")],
)
def test_garbage_never_raises(blob: bytes, media_type: str) -> None:
    summary = inspect_signature(blob, media_type)
    assert summary.error is not None
    assert summary.certificates == () and summary.algorithm is None
