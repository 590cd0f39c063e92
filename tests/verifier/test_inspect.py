"""``inspect_signature`` against `notation inspect -o json`, on broken envelopes, and on
timestamp countersignatures (tests/interop/test_timestamp_verdicts.py compares those with
the real notation inspect)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import cbor2
import pytest

from signer.certs import thumbprint
from signer.mediatypes import COSE_MEDIA_TYPE
from signer.timestamp.request import build_request
from signer.timestamp.token import parse_response
from signer.verifier import inspect_signature
from tests.servers.tsa import TsaFault, TsaServer
from tests.timestamp.helpers import signed_envelope, with_timestamp
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


# --- timestamp countersignatures -----------------------------------------------------------


def _token(tsa: TsaServer, data: bytes, fault: TsaFault | None = None) -> bytes:
    token = parse_response(tsa.reply_for(build_request(data, "sha256").der, fault)).token
    assert token is not None
    return token


def test_a_countersignature_is_shown_with_its_range_and_certificates(
    tsa_server: TsaServer,
) -> None:
    signed = signed_envelope("p256")
    before = datetime.now(UTC).replace(microsecond=0)
    envelope = with_timestamp(signed.envelope, _token(tsa_server, signed.signature))
    stamp = inspect_signature(envelope, COSE_MEDIA_TYPE).timestamp
    assert stamp is not None and stamp.error is None
    assert stamp.time is not None and before <= stamp.time <= datetime.now(UTC)
    assert stamp.accuracy == timedelta(seconds=1)
    earliest, latest = stamp.time - stamp.accuracy, stamp.time + stamp.accuracy
    assert (stamp.earliest, stamp.latest) == (earliest, latest)
    assert stamp.tsa_subject == "CN=Test TSA,O=acr-notary-signer tests"
    assert [c.sha256 for c in stamp.certificates] == [
        thumbprint(tsa_server.identity.cert),
        thumbprint(tsa_server.root),
    ]
    assert stamp.certificates[0].not_after == tsa_server.identity.cert.not_valid_after_utc
    shown = inspect_signature(envelope, COSE_MEDIA_TYPE).to_json()["timestampSignature"]
    assert shown["accuracySeconds"] == 1.0 and shown["policy"] == "1.2.3.4.1"
    assert shown["tsaSubject"] == stamp.tsa_subject and shown["error"] is None
    assert [shown["genTime"], shown["earliest"], shown["latest"]] == [
        t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (stamp.time, earliest, latest)
    ]
    assert [(c["subject"], c["sha256Fingerprint"]) for c in shown["certificates"]] == [
        (c.subject, c.sha256) for c in stamp.certificates
    ]
    assert shown["certificates"][0]["notAfter"] == (
        tsa_server.identity.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def test_an_untrusted_tsa_is_shown_too_inspect_trusts_nothing(tsa_server: TsaServer) -> None:
    signed = signed_envelope("p256")
    token = _token(tsa_server, signed.signature, "untrusted")
    stamp = inspect_signature(with_timestamp(signed.envelope, token), COSE_MEDIA_TYPE).timestamp
    assert stamp is not None and stamp.error is None
    assert stamp.tsa_subject == "CN=Untrusted TSA,O=acr-notary-signer tests"


@pytest.mark.parametrize(
    ("token", "words"),
    [("wrong_imprint", "mismatched message"), ("junk", "failed to parse")],
)
def test_a_bad_countersignature_is_shown_as_such(
    tsa_server: TsaServer, token: str, words: str
) -> None:
    signed = signed_envelope("p256")
    raw = (
        b"\x30\x03\x02\x01\x00"
        if token == "junk"
        else _token(tsa_server, signed.signature, "wrong_imprint")
    )
    summary = inspect_signature(with_timestamp(signed.envelope, raw), COSE_MEDIA_TYPE)
    assert summary.error is None  # the envelope itself is fine
    assert summary.timestamp is not None and summary.timestamp.time is None
    assert summary.timestamp.error is not None
    assert summary.timestamp.error.startswith("failed to parse timestamp countersignature: ")
    assert words in summary.timestamp.error
    assert summary.to_json()["timestampSignature"]["error"] == summary.timestamp.error


def test_no_countersignature_is_none() -> None:
    summary = inspect_signature(signed_envelope("p256").envelope, COSE_MEDIA_TYPE)
    assert summary.timestamp is None
    assert summary.to_json()["timestampSignature"] is None


def test_a_rejected_envelope_still_shows_its_countersignature(tsa_server: TsaServer) -> None:
    """The lenient read takes the token and the signature as they are."""
    signed = signed_envelope("p256")
    stamped = cbor2.loads(with_timestamp(signed.envelope, _token(tsa_server, signed.signature)))
    protected, unprotected, payload, signature = stamped.value
    unprotected[33] = unprotected[33][0]  # a bare bstr x5chain: notation rejects it
    broken = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, signature]))
    summary = inspect_signature(broken, COSE_MEDIA_TYPE)
    assert summary.error is not None and "x5chain" in summary.error
    assert summary.timestamp is not None and summary.timestamp.error is None
    assert summary.timestamp.tsa_subject == "CN=Test TSA,O=acr-notary-signer tests"
