"""Signatures anyone with push rights can attach: each fails alone, none stops the others.

Issue 9, findings 8 and 16: certificates whose names, version or key algorithm break
cryptography's lazy parser, a JWS time notation reads and Python's datetime cannot, and a
payload nested 100,000 deep all crashed verify and inspect with a traceback, and one of
them listed first kept a good signature from being reached.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from signer.envelope import build_envelope, parse_envelope
from signer.errors import EnvelopeError
from signer.mediatypes import COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, OCI_MANIFEST
from signer.models import Descriptor
from signer.payload import build_payload
from signer.signers.local import LocalSigner
from signer.verifier import SignatureBlob, Verifier, inspect_signature, parse
from signer.verifier import verify as verify_module
from tests.verifier import hostile, pki

REF = "registry.example/app@sha256:" + "ab" * 32
SUBJECT = Descriptor(OCI_MANIFEST, "sha256:" + "ab" * 32, 391)
KEY = hostile.signing_key()
LEAF = pki.certificate(KEY, pki.name("Hostile Signer"))
PAYLOAD = build_payload(SUBJECT)
NAME = b"Hostile Signer"


def _leaf(*replacements: tuple[bytes, bytes]) -> bytes:
    return hostile.resign(LEAF, KEY, replacements)


BAD_UTF8_NAME = _leaf((NAME, b"\xff\xfe" + NAME[2:]))
VERSION_5 = _leaf((hostile.VERSION_3, bytes.fromhex("a003020105")))
UNKNOWN_KEY = _leaf((hostile.OID_RSA_KEY, hostile.OID_UNKNOWN_KEY))
DEEP = b"[" * 100_000 + b"]" * 100_000

# name -> (envelope, media type, what the failure must say)
CASES: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "cose-name-invalid-utf8": (
        lambda: hostile.cose(PAYLOAD, [BAD_UTF8_NAME], KEY),
        COSE_MEDIA_TYPE,
        "x5chain holds an invalid certificate",
    ),
    "jws-name-invalid-utf8": (
        lambda: hostile.jws(PAYLOAD, [BAD_UTF8_NAME], KEY),
        JWS_MEDIA_TYPE,
        "x5c holds an invalid certificate",
    ),
    "cose-certificate-version-5": (
        lambda: hostile.cose(PAYLOAD, [VERSION_5], KEY),
        COSE_MEDIA_TYPE,
        "not a valid X509 version",
    ),
    "jws-certificate-version-5": (
        lambda: hostile.jws(PAYLOAD, [VERSION_5], KEY),
        JWS_MEDIA_TYPE,
        "not a valid X509 version",
    ),
    "cose-unknown-key-algorithm": (
        lambda: hostile.cose(PAYLOAD, [UNKNOWN_KEY], KEY),
        COSE_MEDIA_TYPE,
        "Unknown key type",
    ),
    "cose-name-invalid-utf8-in-chain": (
        lambda: hostile.cose(PAYLOAD, [hostile.der(LEAF), BAD_UTF8_NAME], KEY),
        COSE_MEDIA_TYPE,
        "invalid certificate (#2)",
    ),
    "jws-time-offset-24h": (
        lambda: hostile.jws(
            PAYLOAD, [hostile.der(LEAF)], KEY, protected={"io.cncf.notary.signingTime": T24}
        ),
        JWS_MEDIA_TYPE,
        "out of range",
    ),
    "cose-payload-nested-100000-deep": (
        lambda: hostile.cose(DEEP, [hostile.der(LEAF)], KEY),
        COSE_MEDIA_TYPE,
        "nested too deeply",
    ),
    "jws-payload-nested-100000-deep": (
        lambda: hostile.jws(DEEP, [hostile.der(LEAF)], KEY),
        JWS_MEDIA_TYPE,
        "nested too deeply",
    ),
}
T24 = "2026-11-22T04:00:00+24:00"


@pytest.fixture
def verifier(tmp_path: Path) -> Verifier:
    pki.write_store(tmp_path, "test-root", [LEAF])
    return Verifier(pki.policy(identities=("*",)), tmp_path, now=lambda: pki.NOW)


def good_signature() -> bytes:
    signer = LocalSigner(KEY, [LEAF])
    return build_envelope(PAYLOAD, signer, signing_time=hostile.SIGNING_TIME)


@pytest.mark.parametrize(("make", "media_type", "reason"), CASES.values(), ids=CASES.keys())
def test_hostile_signature_fails_with_a_reason(
    verifier: Verifier, make: Callable[[], bytes], media_type: str, reason: str
) -> None:
    outcome = verifier.verify_signature(REF, SUBJECT, make(), media_type)
    assert outcome.status == "failed"
    assert reason in str(outcome.error)
    assert not outcome.internal_error


@pytest.mark.parametrize(("make", "media_type", "reason"), CASES.values(), ids=CASES.keys())
def test_inspect_shows_a_hostile_signature(
    make: Callable[[], bytes], media_type: str, reason: str
) -> None:
    summary = inspect_signature(make(), media_type)
    assert reason in str(summary.error)


@pytest.mark.parametrize(("make", "media_type", "reason"), CASES.values(), ids=CASES.keys())
def test_parsing_a_hostile_signature_raises_only_envelope_error(
    make: Callable[[], bytes], media_type: str, reason: str
) -> None:
    blob = make()
    try:
        envelope = parse(media_type, blob)
    except EnvelopeError:
        return
    # the payload is not the parser's business: the verifier reads it later
    assert envelope.payload == DEEP


def test_parse_envelope_raises_envelope_error_for_an_invalid_version() -> None:
    """Finding 16: InvalidVersion escaped parse_envelope (the signer's own parser too)."""
    with pytest.raises(EnvelopeError, match="not a valid X509 version"):
        parse_envelope(hostile.cose(PAYLOAD, [VERSION_5], KEY))


def test_hostile_signatures_listed_first_do_not_block_a_good_one(verifier: Verifier) -> None:
    blobs = [
        SignatureBlob(make(), media_type, f"bad-{n}")
        for n, (make, media_type, _) in enumerate(CASES.values())
    ]
    blobs.append(SignatureBlob(good_signature(), COSE_MEDIA_TYPE, "good"))
    result = verifier.verify_signatures(REF, SUBJECT, blobs)
    assert result.status == "verified", result.error
    assert result.manifest_digests[-1] == "good"
    assert [o.status for o in result.outcomes] == ["failed"] * len(CASES) + ["verified"]


def test_a_bug_raised_by_one_signature_fails_only_that_signature(
    verifier: Verifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line of defence: an unexpected exception is that signature's failure."""
    real = verify_module.Verifier.verify_signature

    def buggy(
        self: Verifier, reference: object, subject: object, envelope: bytes, *a: object, **k: object
    ) -> object:
        if envelope == b"trigger":
            raise AttributeError("a bug")
        return real(self, reference, subject, envelope, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_module.Verifier, "verify_signature", buggy)
    blobs = [
        SignatureBlob(b"trigger", COSE_MEDIA_TYPE),
        SignatureBlob(good_signature(), COSE_MEDIA_TYPE),
    ]
    result = verifier.verify_signatures(REF, SUBJECT, blobs)
    assert result.status == "verified"
    assert result.outcomes[0].internal_error
    assert "internal error" in str(result.outcomes[0].error)
