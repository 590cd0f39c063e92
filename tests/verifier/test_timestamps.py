"""The authentic-timestamp check with RFC 3161 countersignatures, as notation-go's
verifyTimestamp makes it: tokens from the local TSA (``openssl ts -reply``), envelopes
signed here, the verifier's clock pinned so that "after the certificate expired" needs no
waiting. tests/interop/test_timestamp_verdicts.py holds the same cases against the real
notation; these are the rules it cannot show by itself (levels, clocks, configuration).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest

from signer.errors import ConfigurationError
from signer.mediatypes import (
    COSE_MEDIA_TYPE,
    HEADER_AUTHENTIC_SIGNING_TIME,
    HEADER_SIGNING_SCHEME,
    JWS_MEDIA_TYPE,
    SCHEME_X509_SIGNING_AUTHORITY,
)
from signer.payload import build_payload
from signer.timestamp.request import build_request
from signer.timestamp.token import parse_response
from signer.verifier import Action, Check, VerificationOutcome, Verifier
from tests.servers.tsa import TsaFault, TsaServer
from tests.timestamp.helpers import SUBJECT, Signed, signed_envelope, with_timestamp
from tests.verifier import hostile, pki

REF = f"registry.example/app@{SUBJECT.digest}"
STORES = ("ca:signing", "tsa:tsa")
IDENTITIES = ("*",)
VERIFY_FAILED = "failed to verify the timestamp countersignature"
NO_TOKEN = "no timestamp countersignature was found in the signature envelope"
EXPIRED_NOW = "verification time is after certificate"
NOW = datetime.now(UTC)
EXPIRES = (NOW + timedelta(days=1)).replace(microsecond=0)  # the signing leaf's notAfter
AFTER_EXPIRY = EXPIRES + timedelta(days=1)


def _token(tsa: TsaServer, data: bytes, fault: TsaFault | None = None) -> bytes:
    token = parse_response(tsa.reply_for(build_request(data, "sha256").der, fault)).token
    assert token is not None
    return token


@dataclass(frozen=True)
class Setup:
    """A signature whose leaf expires at EXPIRES; a trust store with ca:signing, tsa:tsa."""

    store: Path
    signed: Signed
    tsa: TsaServer

    def stamped(self, fault: TsaFault | None = None) -> bytes:
        """The envelope with a token (broken by ``fault``) over its signature."""
        return with_timestamp(self.signed.envelope, _token(self.tsa, self.signed.signature, fault))


@pytest.fixture
def setup(tmp_path: Path, tsa_server: TsaServer) -> Setup:
    signed = signed_envelope("p256", not_before=NOW - timedelta(hours=1), not_after=EXPIRES)
    pki.write_store(tmp_path, "signing", [signed.chain[-1]])
    pki.write_store(tmp_path, "tsa", [tsa_server.root], store_type="tsa")
    return Setup(tmp_path, signed, tsa_server)


def _verify(
    store: Path,
    envelope: bytes,
    *,
    now: datetime = NOW,
    media_type: str = COSE_MEDIA_TYPE,
    **policy: Any,
) -> VerificationOutcome:
    policy.setdefault("stores", STORES)
    document = pki.policy(identities=IDENTITIES, **policy)
    verifier = Verifier(document, store, now=lambda: now)
    return verifier.verify_signature(REF, SUBJECT, envelope, media_type)


def _timestamp_result(outcome: VerificationOutcome) -> str | None:
    return next(r for r in outcome.results if r.check == Check.AUTHENTIC_TIMESTAMP).error


def test_a_good_timestamp_passes_every_check(setup: Setup) -> None:
    outcome = _verify(setup.store, setup.stamped())
    assert outcome.verified, outcome.error
    assert [(r.check, r.action, r.error) for r in outcome.results] == [
        (Check.INTEGRITY, Action.ENFORCE, None),
        (Check.AUTHENTICITY, Action.ENFORCE, None),
        (Check.EXPIRY, Action.ENFORCE, None),
        (Check.AUTHENTIC_TIMESTAMP, Action.ENFORCE, None),
        (Check.REVOCATION, Action.ENFORCE, None),
    ]


def test_the_timestamp_carries_the_signature_past_its_certificate_s_expiry(setup: Setup) -> None:
    envelope = setup.stamped()
    assert _verify(setup.store, envelope, now=AFTER_EXPIRY).verified
    # without a tsa store the token is not looked at: the chain must be valid now
    outcome = _verify(setup.store, envelope, now=AFTER_EXPIRY, stores=("ca:signing",))
    assert not outcome.verified and EXPIRED_NOW in str(outcome.error)
    assert "it was expired at" in str(outcome.error)  # notation's words


@pytest.mark.parametrize(
    ("level", "override", "passes"),
    [
        ("strict", None, False),
        ("strict", {"authenticTimestamp": "log"}, True),
        ("permissive", None, True),
        ("audit", None, True),
    ],
)
def test_levels_that_log_the_check_log_it_and_go_on(
    setup: Setup,
    caplog: pytest.LogCaptureFixture,
    level: str,
    override: dict[str, str] | None,
    passes: bool,
) -> None:
    envelope = setup.stamped("tampered")
    with caplog.at_level(logging.WARNING, logger="signer.verifier.verify"):
        outcome = _verify(setup.store, envelope, level=level, override=override)
    assert outcome.verified is passes
    assert VERIFY_FAILED in str(_timestamp_result(outcome))
    if passes:
        # logged, and the checks after it still ran
        assert outcome.results[-1].check == Check.REVOCATION
        (warning,) = outcome.warnings
        assert warning.startswith("authenticTimestamp validation failed (logged): ")
        assert any(warning in r.getMessage() for r in caplog.records)
    else:
        assert outcome.results[-1].check == Check.AUTHENTIC_TIMESTAMP


@pytest.mark.parametrize(
    ("now", "token", "words"),
    [
        (NOW, None, None),
        (NOW, "tampered", None),  # the token is not even read
        (AFTER_EXPIRY, "good", None),
        (AFTER_EXPIRY, None, NO_TOKEN),
        (AFTER_EXPIRY, "tampered", VERIFY_FAILED),
    ],
    ids=["unexpired", "unexpired-broken-token", "expired", "expired-no-token", "expired-broken"],
)
def test_after_cert_expiry_checks_the_timestamp_only_once_a_certificate_expired(
    setup: Setup, now: datetime, token: str | None, words: str | None
) -> None:
    envelope = setup.signed.envelope
    if token is not None:
        envelope = setup.stamped(None if token == "good" else "tampered")
    outcome = _verify(setup.store, envelope, now=now, verifyTimestamp="afterCertExpiry")
    assert outcome.verified is (words is None), outcome.error
    assert _timestamp_result(outcome) == outcome.error
    if words is not None:
        assert words in str(outcome.error)


def test_a_timestamp_outside_the_certificate_s_validity_fails(setup: Setup) -> None:
    """The whole range (genTime ± accuracy) must lie within the validity, not just "now"."""
    over = signed_envelope(
        "p256", not_before=NOW - timedelta(days=2), not_after=NOW - timedelta(days=1)
    )
    pki.write_store(setup.store, "signing", [setup.signed.chain[-1], over.chain[-1]])
    envelope = with_timestamp(over.envelope, _token(setup.tsa, over.signature))
    outcome = _verify(setup.store, envelope)
    assert not outcome.verified
    assert "timestamp can be after certificate" in str(outcome.error)
    assert "validity period, it was expired at" in str(outcome.error)


def test_the_tsa_chain_s_revocation_is_checked_even_when_revocation_is_skipped(
    setup: Setup,
) -> None:
    """notation-go verifyTimestamp step 5 runs whatever the policy's revocation level."""
    outcome = _verify(setup.store, setup.stamped("revocable"), override={"revocation": "skip"})
    assert not outcome.verified
    assert outcome.error == (
        "timestamping certificate with subject 'CN=TSA with a CRL,O=acr-notary-signer tests' "
        "revocation status is unknown: OCSP/CRL checking is not implemented by this verifier"
    )
    assert outcome.results[-1].check == Check.AUTHENTIC_TIMESTAMP


def test_the_tsa_trust_store_is_read_only_when_a_token_must_be_checked(
    setup: Setup, tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = tmp_path_factory.mktemp("no-tsa-store")
    pki.write_store(store, "signing", [setup.signed.chain[-1]])  # and no tsa:tsa
    assert _verify(store, setup.signed.envelope).error == NO_TOKEN
    with pytest.raises(ConfigurationError, match="trust store tsa:tsa does not exist"):
        _verify(store, setup.stamped())


def test_only_the_policy_s_tsa_stores_are_trusted(setup: Setup) -> None:
    pki.write_store(setup.store, "other", [setup.tsa.other_root], store_type="tsa")
    envelope = setup.stamped()
    outcome = _verify(setup.store, envelope, stores=("ca:signing", "tsa:other"))
    assert not outcome.verified and VERIFY_FAILED in str(outcome.error)
    assert "does not chain to a trusted root" in str(outcome.error)
    # two stores: the roots of both count
    assert _verify(setup.store, envelope, stores=("ca:signing", "tsa:other", "tsa:tsa")).verified


def test_a_signing_authority_signature_needs_no_timestamp(setup: Setup) -> None:
    """notary.x509.signingAuthority: the authentic signing time decides, tsa store or not."""
    key = hostile.signing_key("p256")
    leaf = pki.certificate(key, pki.name("Signing Authority Leaf"))
    pki.write_store(setup.store, "sa", [leaf], store_type="signingAuthority")
    envelope = hostile.cose(
        build_payload(SUBJECT),
        [hostile.der(leaf)],
        key,
        protected={
            2: [HEADER_SIGNING_SCHEME, HEADER_AUTHENTIC_SIGNING_TIME],
            HEADER_SIGNING_SCHEME: SCHEME_X509_SIGNING_AUTHORITY,
            HEADER_AUTHENTIC_SIGNING_TIME: cbor2.CBORTag(1, int(NOW.timestamp())),
        },
    )
    outcome = _verify(setup.store, envelope, stores=("signingAuthority:sa", "tsa:tsa"))
    assert outcome.verified, outcome.error


def test_a_jws_countersignature_is_over_the_decoded_signature(setup: Setup) -> None:
    key = hostile.signing_key("p256")
    root = setup.signed.chain[-1]
    leaf = pki.certificate(
        key,
        pki.name("JWS Signer"),
        issuer_key=pki.key("p384"),  # the key of signed_envelope's root
        issuer=root.subject,
        not_before=NOW - timedelta(hours=1),
        not_after=EXPIRES,
    )
    chain = [hostile.der(c) for c in (leaf, root)]
    doc = json.loads(hostile.jws(build_payload(SUBJECT), chain, key))
    encoded = doc["signature"]
    signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))

    def stamped(data: bytes) -> bytes:
        token = base64.b64encode(_token(setup.tsa, data)).decode()
        header = {**doc["header"], "io.cncf.notary.timestampSignature": token}
        return json.dumps({**doc, "header": header}).encode()

    good = _verify(setup.store, stamped(signature), now=AFTER_EXPIRY, media_type=JWS_MEDIA_TYPE)
    assert good.verified, good.error
    text = _verify(setup.store, stamped(encoded.encode()), media_type=JWS_MEDIA_TYPE)
    assert not text.verified and "mismatched message" in str(text.error)
