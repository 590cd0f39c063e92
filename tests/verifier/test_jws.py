"""JWS envelopes: notation's vector, and re-signed variants that break one rule each."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from signer.errors import EnvelopeError, SignatureVerificationError
from signer.mediatypes import JWS_MEDIA_TYPE
from signer.payload import build_payload
from signer.signers.local import LocalSigner
from signer.verifier import parse, verify_integrity
from signer.verifier.jws import parse_jws
from tests.fuzzing import examples
from tests.verifier.vectors import NOW, ROOT, SIGNING_AGENT, case

VECTOR = case("rsa2048-selfsigned-jws")
SIGNER = LocalSigner.from_files(
    ROOT / "certs" / "rsa2048-selfsigned" / "key.pem",
    ROOT / "certs" / "rsa2048-selfsigned" / "chain.pem",
)
PROTECTED: dict[str, Any] = {
    "alg": "PS256",
    "crit": ["io.cncf.notary.signingScheme"],
    "cty": "application/vnd.cncf.notary.payload.v1+json",
    "io.cncf.notary.signingScheme": "notary.x509",
    "io.cncf.notary.signingTime": "2026-11-22T04:16:40Z",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jws(
    protected: dict[str, Any] | None = None,
    payload: bytes | None = None,
    header: dict[str, Any] | None = None,
    signer: LocalSigner = SIGNER,
) -> bytes:
    """A JWS signed the way notation signs one (signature over protected.payload)."""
    prot = b64url(json.dumps(PROTECTED if protected is None else protected).encode())
    body = b64url(build_payload(VECTOR.subject) if payload is None else payload)
    signature = signer.signing_key().sign(f"{prot}.{body}".encode())
    chain = [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
        for c in list(signer.signing_key().chain)
    ]
    hdr = {"x5c": chain, "io.cncf.notary.signingAgent": SIGNING_AGENT}
    if header is not None:
        hdr = header
    return json.dumps(
        {"payload": body, "protected": prot, "header": hdr, "signature": b64url(signature)}
    ).encode()


def test_notation_jws_vector_parses_and_verifies() -> None:
    env = parse(JWS_MEDIA_TYPE, VECTOR.envelope)
    assert env.algorithm.name == "PS256"
    assert env.signing_time == datetime(2026, 11, 22, 4, 16, 40, tzinfo=UTC)
    assert env.signing_agent == SIGNING_AGENT
    assert env.expiry is None and len(env.chain) == 1
    assert env.critical == ("io.cncf.notary.signingScheme",)
    verify_integrity(env)
    outcome = VECTOR.verifier().verify_signature(
        VECTOR.reference, VECTOR.subject, VECTOR.envelope, JWS_MEDIA_TYPE
    )
    assert outcome.verified, outcome.error


def test_our_jws_verifies() -> None:
    outcome = VECTOR.verifier().verify_signature(
        VECTOR.reference, VECTOR.subject, make_jws(), JWS_MEDIA_TYPE
    )
    assert outcome.verified, outcome.error


def test_tampered_payload_fails_integrity() -> None:
    doc = json.loads(make_jws())
    other = build_payload(case("rsa2048-selfsigned-cose").subject)
    doc["payload"] = b64url(other)
    with pytest.raises(SignatureVerificationError):
        verify_integrity(parse_jws(json.dumps(doc).encode()))


def test_algorithm_must_match_the_leaf_key() -> None:
    env = parse_jws(make_jws({**PROTECTED, "alg": "ES256"}))
    with pytest.raises(SignatureVerificationError, match="does not match the leaf key"):
        verify_integrity(env)


def test_time_with_offset_and_fraction() -> None:
    env = parse_jws(
        make_jws({**PROTECTED, "io.cncf.notary.signingTime": "2026-11-22T06:16:40.5+02:00"})
    )
    assert env.signing_time == datetime(2026, 11, 22, 4, 16, 40, 500000, tzinfo=UTC)


def test_expiry() -> None:
    protected = {
        **PROTECTED,
        "crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"],
        "io.cncf.notary.expiry": "2027-11-22T04:16:40Z",
    }
    env = parse_jws(make_jws(protected))
    assert env.expiry == datetime(2027, 11, 22, 4, 16, 40, tzinfo=UTC)
    assert env.expiry > NOW


MUTATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown-critical": (
        {**PROTECTED, "com.example.x": "y", "crit": [*PROTECTED["crit"], "com.example.x"]},
        "unknown critical headers",
    ),
    "crit-missing": ({k: v for k, v in PROTECTED.items() if k != "crit"}, 'missing "crit"'),
    "crit-without-scheme": (
        {**PROTECTED, "crit": ["io.cncf.notary.signingTime"]},
        "not marked as critical: ['io.cncf.notary.signingScheme']",
    ),
    "crit-lists-absent": (
        {**PROTECTED, "crit": [*PROTECTED["crit"], "io.cncf.notary.expiry"]},
        "marked critical but not present",
    ),
    "expiry-not-critical": (
        {**PROTECTED, "io.cncf.notary.expiry": "2027-11-22T04:16:40Z"},
        "not marked as critical: ['io.cncf.notary.expiry']",
    ),
    "expiry-before-signing": (
        {
            **PROTECTED,
            "crit": [*PROTECTED["crit"], "io.cncf.notary.expiry"],
            "io.cncf.notary.expiry": "2026-11-22T04:16:40Z",
        },
        "expiry is not after the signing time",
    ),
    "cty-wrong": ({**PROTECTED, "cty": "application/json"}, "payload content type"),
    "alg-none": ({**PROTECTED, "alg": "none"}, "unsupported or missing signature algorithm"),
    "alg-hs256": ({**PROTECTED, "alg": "HS256"}, "unsupported or missing signature algorithm"),
    "scheme-unknown": ({**PROTECTED, "io.cncf.notary.signingScheme": "x"}, "signing scheme"),
    "time-epoch": ({**PROTECTED, "io.cncf.notary.signingTime": 1795407400}, "RFC 3339"),
    "time-no-zone": (
        {**PROTECTED, "io.cncf.notary.signingTime": "2026-11-22T04:16:40"},
        "RFC 3339",
    ),
    "time-missing": (
        {k: v for k, v in PROTECTED.items() if k != "io.cncf.notary.signingTime"},
        "missing io.cncf.notary.signingTime",
    ),
    "authentic-time-for-x509": (
        {**PROTECTED, "io.cncf.notary.authenticSigningTime": "2026-11-22T04:16:40Z"},
        "must not be present",
    ),
}


@pytest.mark.parametrize(("protected", "reason"), MUTATIONS.values(), ids=MUTATIONS.keys())
def test_protected_header_rules(protected: dict[str, Any], reason: str) -> None:
    with pytest.raises(EnvelopeError, match=re.escape(reason)):
        parse_jws(make_jws(protected))


def _edit(**changes: Any) -> bytes:
    doc = json.loads(make_jws())
    doc.update(changes)
    return json.dumps(doc).encode()


STRUCTURE: dict[str, tuple[bytes, str]] = {
    "not-json": (b"{", "not valid JSON"),
    "array": (b"[]", "not a JSON object"),
    "padded-payload": (_edit(payload=json.loads(make_jws())["payload"] + "="), "base64url"),
    "std-base64-signature": (
        _edit(signature=json.loads(make_jws())["signature"].replace("-", "+") + "+/"),
        "base64url",
    ),
    "empty-signature": (_edit(signature=""), "signature is empty"),
    "no-header": (_edit(header=None), "unprotected header is missing"),
    "no-x5c": (_edit(header={}), "certificate chain is not present"),
    "x5c-not-base64": (_edit(header={"x5c": ["***"]}), "not standard base64"),
    "x5c-not-der": (_edit(header={"x5c": ["AAAA"]}), "invalid certificate"),
    "agent-not-string": (
        _edit(header={**json.loads(make_jws())["header"], "io.cncf.notary.signingAgent": 1}),
        "signingAgent must be a string",
    ),
}


@pytest.mark.parametrize(("blob", "reason"), STRUCTURE.values(), ids=STRUCTURE.keys())
def test_envelope_structure_rules(blob: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=re.escape(reason)):
        parse_jws(blob)


@examples(300, deadline=None)
@given(st.data())
def test_mutated_jws_only_raises_envelope_error(data: st.DataObject) -> None:
    blob = bytearray(VECTOR.envelope)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.sampled_from(b'{}[]",:=+/-_A0 \\\x00\xff'))
    with contextlib.suppress(EnvelopeError):
        parse_jws(bytes(blob))


def test_a_repeated_member_takes_the_last_value_as_notation_does() -> None:
    """Go's encoding/json (notation-core-go) keeps the last of a repeated member; RFC 7515
    section 4 allows that. An earlier bogus signature member is therefore ignored."""
    original = make_jws()
    doubled = original.replace(b'{"payload"', b'{"signature": "AA", "payload"', 1)
    assert parse_jws(doubled).signature == parse_jws(original).signature != b"\x00"
