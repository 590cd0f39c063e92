"""Verifier behaviour beyond the vectors: levels, overrides, payload match, any-of."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from signer.cbor_strict import EpochTime
from signer.envelope import build_envelope, parse_envelope, sig_structure
from signer.errors import ConfigurationError
from signer.mediatypes import COSE_MEDIA_TYPE, OCI_INDEX, OCI_MANIFEST
from signer.models import Descriptor
from signer.payload import build_payload
from signer.signers.local import LocalSigner
from signer.verifier import (
    Action,
    Check,
    SignatureBlob,
    UnsupportedEnvelopeError,
    Verifier,
    parse,
)
from tests.verifier import pki

REF = "registry.example/app@sha256:" + "ab" * 32
SUBJECT = Descriptor(OCI_MANIFEST, "sha256:" + "ab" * 32, 391)


@dataclass
class Pki:
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey
    store: Path

    def leaf(self, **kwargs: Any) -> x509.Certificate:
        return pki.certificate(
            self.leaf_key,
            pki.name("Builder", extra=[]),
            issuer_key=self.intermediate_key,
            issuer=self.intermediate.subject,
            **kwargs,
        )

    def sign(
        self,
        subject: Descriptor = SUBJECT,
        *,
        metadata: dict[str, str] | None = None,
        expiry: datetime | None = None,
        leaf: x509.Certificate | None = None,
        signing_time: datetime = pki.NOW - timedelta(hours=1),
    ) -> bytes:
        chain = [leaf or self.leaf(), self.intermediate, self.root]
        return build_envelope(
            build_payload(subject, metadata),
            LocalSigner(self.leaf_key, chain),
            signing_time=signing_time,
            expiry=expiry,
            signing_agent="test/1",
        )


@pytest.fixture
def ca(tmp_path: Path) -> Pki:
    root_key, int_key, leaf_key = (
        pki.key("p384"),
        ec.generate_private_key(ec.SECP256R1()),
        pki.key("p256"),
    )
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    assert isinstance(leaf_key, ec.EllipticCurvePrivateKey)
    root = pki.certificate(root_key, pki.name("Root"), ca=True)
    intermediate = pki.certificate(
        int_key, pki.name("Intermediate"), issuer_key=root_key, issuer=root.subject, ca=True
    )
    pki.write_store(tmp_path, "test-root", [root])
    return Pki(root_key, root, int_key, intermediate, leaf_key, tmp_path)


def verifier(ca: Pki, now: datetime = pki.NOW, **policy: Any) -> Verifier:
    return Verifier(pki.policy(**policy), ca.store, now=lambda: now)


def verify(ca: Pki, envelope: bytes, subject: Descriptor = SUBJECT, **policy: Any) -> Any:
    now = policy.pop("now", pki.NOW)
    metadata = policy.pop("metadata", {})
    return verifier(ca, now, **policy).verify_signature(
        REF, subject, envelope, COSE_MEDIA_TYPE, metadata
    )


def test_good_signature_passes_every_check(ca: Pki) -> None:
    outcome = verify(ca, ca.sign(metadata={"env": "prod"}), metadata={"env": "prod"})
    assert outcome.verified, outcome.error
    assert [(r.check, r.action, r.error) for r in outcome.results] == [
        (Check.INTEGRITY, Action.ENFORCE, None),
        (Check.AUTHENTICITY, Action.ENFORCE, None),
        (Check.EXPIRY, Action.ENFORCE, None),
        (Check.AUTHENTIC_TIMESTAMP, Action.ENFORCE, None),
        (Check.REVOCATION, Action.ENFORCE, None),
    ]
    assert outcome.warnings == ()
    assert outcome.envelope is not None and outcome.envelope.signing_agent == "test/1"


@pytest.mark.parametrize(
    "other",
    [
        Descriptor(OCI_MANIFEST, "sha256:" + "cd" * 32, 391),
        Descriptor(OCI_MANIFEST, "sha256:" + "ab" * 32, 392),
        Descriptor(OCI_INDEX, "sha256:" + "ab" * 32, 391),
    ],
    ids=["digest", "size", "mediaType"],
)
@pytest.mark.parametrize("level", ["strict", "permissive", "audit"])
def test_payload_must_name_the_subject_at_every_level(
    ca: Pki, other: Descriptor, level: str
) -> None:
    outcome = verify(ca, ca.sign(), other, level=level)
    assert not outcome.verified
    assert outcome.error is not None and "content descriptor mismatch" in outcome.error


def test_subject_annotations_do_not_matter(ca: Pki) -> None:
    annotated = Descriptor(SUBJECT.media_type, SUBJECT.digest, SUBJECT.size, {"a": "b"})
    assert verify(ca, ca.sign(), annotated).verified


def test_required_user_metadata(ca: Pki) -> None:
    envelope = ca.sign(metadata={"env": "prod", "team": "core"})
    assert verify(ca, envelope, metadata={"team": "core"}).verified
    failed = verify(ca, envelope, metadata={"env": "dev"})
    assert not failed.verified and "user metadata env=dev" in str(failed.error)
    assert not verify(ca, ca.sign(), metadata={"env": "prod"}).verified


# level -> (verified?, failing check or None if logged)
LEVEL_EXPECTATIONS = {
    "strict": False,
    "permissive": True,
    "audit": True,
}


@pytest.mark.parametrize(("level", "passes"), LEVEL_EXPECTATIONS.items())
def test_expired_signature(ca: Pki, level: str, passes: bool) -> None:
    envelope = ca.sign(expiry=pki.NOW - timedelta(minutes=1))
    outcome = verify(ca, envelope, level=level)
    assert outcome.verified is passes
    expiry = next(r for r in outcome.results if r.check == Check.EXPIRY)
    assert expiry.error is not None and "digital signature has expired on" in expiry.error
    if passes:
        assert any("expiry validation failed (logged)" in w for w in outcome.warnings)


def test_expiry_is_exclusive_at_the_instant(ca: Pki) -> None:
    expiry = pki.NOW + timedelta(hours=1)
    envelope = ca.sign(expiry=expiry)
    assert verify(ca, envelope, now=expiry - timedelta(seconds=1)).verified
    assert not verify(ca, envelope, now=expiry).verified  # notation: !now.Before(expiry)


def test_expiry_override_to_log(ca: Pki) -> None:
    envelope = ca.sign(expiry=pki.NOW - timedelta(minutes=1))
    assert verify(ca, envelope, override={"expiry": "log"}).verified


@pytest.mark.parametrize(
    ("level", "passes"), [("strict", False), ("permissive", False), ("audit", True)]
)
def test_trust_store_without_the_root(ca: Pki, tmp_path: Path, level: str, passes: bool) -> None:
    other_key = pki.key("p521")
    other_root = pki.certificate(other_key, pki.name("Other Root"), ca=True)
    pki.write_store(ca.store, "other", [other_root])
    outcome = verify(ca, ca.sign(), level=level, stores=("ca:other",))
    assert outcome.verified is passes
    authenticity = next(r for r in outcome.results if r.check == Check.AUTHENTICITY)
    assert authenticity.error is not None
    assert "does not contain a certificate from the trust store(s) other" in authenticity.error


def test_intermediate_in_the_store_is_trusted_like_notation(ca: Pki) -> None:
    """notation-core-go VerifyAuthenticity: any certificate of the chain may be the anchor."""
    pki.write_store(ca.store, "pinned", [ca.intermediate])
    assert verify(ca, ca.sign(), stores=("ca:pinned",)).verified


def test_signing_authority_store_does_not_count_for_notary_x509(ca: Pki) -> None:
    pki.write_store(ca.store, "sa", [ca.root], store_type="signingAuthority")
    outcome = verify(ca, ca.sign(), stores=("signingAuthority:sa",))
    assert not outcome.verified
    assert "no trusted certificates are found" in str(outcome.error)


@pytest.mark.parametrize(
    ("level", "passes"), [("strict", False), ("permissive", False), ("audit", True)]
)
def test_wrong_identity(ca: Pki, level: str, passes: bool) -> None:
    outcome = verify(
        ca, ca.sign(), level=level, identities=("x509.subject: C=US, ST=WA, O=Someone Else",)
    )
    assert outcome.verified is passes
    assert any(
        r.error and "does not match the X.509 trusted identities" in r.error
        for r in outcome.results
    )


@pytest.mark.parametrize(
    ("identity", "passes"),
    [
        ("x509.subject: C=US, ST=WA, O=Test Org", True),
        ("x509.subject: C=US, ST=WA, O=Test Org, CN=Builder", True),
        ("x509.subject: C=US,ST=WA,L=Seattle,O=Test Org,CN=Builder", True),
        ("x509.subject: C=US, ST=WA, O=Test Org, CN=Other", False),
        ("x509.subject: C=US, ST=WA, O=Test Org, OU=Team", False),
        ("x509.subject: C=US, ST=OR, O=Test Org", False),
        ("*", True),
    ],
)
def test_identity_matching(ca: Pki, identity: str, passes: bool) -> None:
    assert verify(ca, ca.sign(), identities=(identity,)).verified is passes


def test_skip_level_verifies_nothing(ca: Pki) -> None:
    outcome = verify(ca, b"not a signature", level="skip", stores=(), identities=())
    assert outcome.skipped and outcome.results == ()
    # skipped is its own outcome: neither verified nor failed (issue 10)
    assert outcome.status == "skipped" and not outcome.verified and outcome.error is None


def test_skip_level_is_a_third_outcome_for_the_artifact(ca: Pki) -> None:
    policy = pki.policy(level="skip", stores=(), identities=())
    result = Verifier(policy, ca.store).verify_signatures(REF, SUBJECT, [])
    assert (result.status, result.verified, result.skipped, result.error) == (
        "skipped",
        False,
        True,
        None,
    )
    verified = verifier(ca).verify_signatures(
        REF, SUBJECT, [SignatureBlob(ca.sign(), COSE_MEDIA_TYPE)]
    )
    failed = verifier(ca).verify_signatures(REF, SUBJECT, [SignatureBlob(b"x", COSE_MEDIA_TYPE)])
    assert (verified.status, failed.status) == ("verified", "failed")


@pytest.mark.parametrize("level", ["strict", "permissive", "audit"])
def test_integrity_is_enforced_at_every_level(ca: Pki, level: str) -> None:
    envelope = bytearray(ca.sign())
    envelope[-1] ^= 1
    outcome = verify(ca, bytes(envelope), level=level)
    assert not outcome.verified and "signature is invalid" in str(outcome.error)


@pytest.mark.parametrize(("level", "passes"), [("strict", False), ("permissive", True)])
def test_certificate_expired_at_verification_time(ca: Pki, level: str, passes: bool) -> None:
    leaf = ca.leaf(not_after=pki.NOW - timedelta(days=1), not_before=pki.NOT_BEFORE)
    envelope = ca.sign(leaf=leaf, signing_time=pki.NOW - timedelta(days=2))
    outcome = verify(ca, envelope, level=level)
    assert outcome.verified is passes
    timestamp = next(r for r in outcome.results if r.check == Check.AUTHENTIC_TIMESTAMP)
    assert "verification time is after certificate" in str(timestamp.error)


def test_certificate_not_yet_valid(ca: Pki) -> None:
    leaf = ca.leaf(not_before=pki.NOW + timedelta(days=1))
    outcome = verify(ca, ca.sign(leaf=leaf))
    assert not outcome.verified and "verification time is before certificate" in str(outcome.error)


def test_tsa_store_requires_a_timestamp(ca: Pki) -> None:
    pki.write_store(ca.store, "tsa-root", [ca.root], store_type="tsa")
    stores = ("ca:test-root", "tsa:tsa-root")
    outcome = verify(ca, ca.sign(), stores=stores)
    assert not outcome.verified and "no timestamp countersignature" in str(outcome.error)
    # afterCertExpiry: no timestamp needed while the chain is unexpired
    assert verify(ca, ca.sign(), stores=stores, verifyTimestamp="afterCertExpiry").verified


@pytest.mark.parametrize(
    ("level", "override", "passes"),
    [
        ("strict", None, False),
        ("strict", {"revocation": "skip"}, True),
        ("strict", {"revocation": "log"}, True),
        ("permissive", None, True),
    ],
)
def test_revocation_endpoint_means_unknown_status(
    ca: Pki, level: str, override: dict[str, str] | None, passes: bool
) -> None:
    leaf = ca.leaf(crl_url="http://crl.example/leaf.crl")
    outcome = verify(ca, ca.sign(leaf=leaf), level=level, override=override)
    assert outcome.verified is passes
    revocation = [r for r in outcome.results if r.check == Check.REVOCATION]
    if override == {"revocation": "skip"}:
        assert revocation == []
    else:
        assert "revocation status is unknown" in str(revocation[0].error)


def test_unknown_media_type(ca: Pki) -> None:
    outcome = verifier(ca).verify_signature(REF, SUBJECT, ca.sign(), "application/pkcs7")
    assert not outcome.verified and "media type 'application/pkcs7'" in str(outcome.error)
    with pytest.raises(UnsupportedEnvelopeError):
        parse("application/pkcs7", ca.sign())


def test_no_applicable_policy_and_missing_store_are_configuration_errors(ca: Pki) -> None:
    with pytest.raises(ConfigurationError, match="no applicable trust policy"):
        verifier(ca).verify_signature("other.example/app:v1", SUBJECT, ca.sign(), COSE_MEDIA_TYPE)
    with pytest.raises(ConfigurationError, match="does not exist"):
        verify(ca, ca.sign(), stores=("ca:absent",))


def test_wildcard_policy_applies_when_no_exact_scope(ca: Pki) -> None:
    doc = pki.policy(scopes=("*",))
    doc["trustPolicies"].append(
        pki.policy(name="exact", level="skip", stores=(), identities=())["trustPolicies"][0]
    )
    v = Verifier(doc, ca.store, now=lambda: pki.NOW)
    assert v.verify_signature(REF, SUBJECT, b"junk", COSE_MEDIA_TYPE).skipped
    other = v.verify_signature("x.example/y:1", SUBJECT, ca.sign(), COSE_MEDIA_TYPE)
    assert other.policy == "test" and other.verified


def _blobs(items: list[bytes], seen: list[int]) -> Iterator[SignatureBlob]:
    for i, data in enumerate(items):
        seen.append(i)
        yield SignatureBlob(data, COSE_MEDIA_TYPE, f"sha256:{i:064x}")


def test_any_signature_may_pass_and_later_ones_are_not_read(ca: Pki) -> None:
    good = ca.sign()
    bad = ca.sign(Descriptor(OCI_MANIFEST, "sha256:" + "ef" * 32, 1))
    seen: list[int] = []
    result = verifier(ca).verify_signatures(REF, SUBJECT, _blobs([bad, b"junk", good, good], seen))
    assert result.verified and seen == [0, 1, 2]
    assert [o.verified for o in result.outcomes] == [False, False, True]
    assert result.accepted is result.outcomes[2]
    assert result.manifest_digests[2] == f"sha256:{2:064x}"


def test_all_signatures_failing(ca: Pki) -> None:
    bad = ca.sign(Descriptor(OCI_MANIFEST, "sha256:" + "ef" * 32, 1))
    result = verifier(ca).verify_signatures(REF, SUBJECT, _blobs([bad, bad], []))
    assert not result.verified and "failed for all the signatures" in str(result.error)
    none = verifier(ca).verify_signatures(REF, SUBJECT, [])
    assert not none.verified and "no signature is associated" in str(none.error)


def test_signature_limit(ca: Pki) -> None:
    seen: list[int] = []
    v = Verifier(pki.policy(), ca.store, now=lambda: pki.NOW, max_signatures=3)
    result = v.verify_signatures(REF, SUBJECT, _blobs([b"junk"] * 5 + [ca.sign()], seen))
    assert not result.verified and "limit of 3 signatures" in str(result.error)
    assert len(result.outcomes) == 3 and seen == [0, 1, 2]


def test_default_clock_is_now(ca: Pki) -> None:
    v = Verifier(pki.policy(), ca.store)
    outcome = v.verify_signature(
        REF, SUBJECT, ca.sign(signing_time=datetime.now(UTC)), COSE_MEDIA_TYPE
    )
    assert outcome.verified, outcome.error


def _resign_with(ca: Pki, extra: dict[Any, Any], critical: list[Any]) -> bytes:
    """Our envelope with extra protected headers, signed again with the leaf key."""
    env = parse_envelope(ca.sign())
    protected = {**env.protected, **extra, 2: [*env.protected[2], *critical]}
    protected = {  # the parser keeps tag 1 times undecoded
        k: cbor2.CBORTag(1, v.seconds) if isinstance(v, EpochTime) else v
        for k, v in protected.items()
    }
    protected_bytes = cbor2.dumps(protected)
    signature = LocalSigner(ca.leaf_key, list(env.chain)).sign(
        sig_structure(protected_bytes, env.payload)
    )
    return cbor2.dumps(
        cbor2.CBORTag(18, [protected_bytes, dict(env.unprotected), env.payload, signature])
    )


def test_verification_plugin_is_required_but_unsupported(ca: Pki) -> None:
    plugin = "io.cncf.notary.verificationPlugin"
    envelope = _resign_with(ca, {plugin: "com.example.plugin"}, [plugin])
    for level in ("strict", "audit"):
        outcome = verify(ca, envelope, level=level)
        assert not outcome.verified
        assert "verification plugins are not supported" in str(outcome.error)


def test_resigned_envelope_baseline_and_unknown_critical(ca: Pki) -> None:
    assert verify(ca, _resign_with(ca, {"com.example.x": "y"}, [])).verified
    outcome = verify(ca, _resign_with(ca, {"com.example.x": "y"}, ["com.example.x"]))
    assert not outcome.verified and "unknown critical headers" in str(outcome.error)
