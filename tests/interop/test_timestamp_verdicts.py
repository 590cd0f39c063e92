"""Timestamped signatures: our verifier's verdicts against the real notation v1.3.2.

Every case is a signature made here (COSE by ``signer.envelope``, JWS by the test helper)
with a token from the local TSA (``openssl ts -reply``; broken tokens by its fault
pipeline), pushed to olareg and verified there by ``notation verify`` and by our
``Verifier`` reading notation's own trustpolicy.json and trust store (a ``ca:`` store for
the signing root, a ``tsa:`` store for the TSA root). Both must agree on the verdict, on
the check that fails, and on the words of the reason.

The signature covers neither the certificate chain (it is in the unprotected header) nor
the timestamp, so each leaf certificate is made *after* its token, with a validity chosen
around the token's time: inside it but already over ("expired"), ending before it, not yet
begun, or ending inside its accuracy. The only wait is for the "expired" leaves, which end
at the token's upper bound (about a second after signing): every case is signed first,
then one sleep, then the verifications.
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from cryptography import x509

from signer.certs import thumbprints
from signer.cli import main
from signer.connect import RegistryOptions, open_registry
from signer.credentials import build_credential
from signer.envelope import prepare_envelope
from signer.errors import ConfigurationError
from signer.mediatypes import (
    ANNOTATION_THUMBPRINTS,
    COSE_MEDIA_TYPE,
    EMPTY_JSON,
    JWS_MEDIA_TYPE,
    OCI_MANIFEST,
)
from signer.models import Descriptor
from signer.payload import build_payload
from signer.reference import Reference
from signer.registry.manifests import digest_of, signature_manifest
from signer.signatures import verify_reference
from signer.signers.local import LocalSigner
from signer.timestamp import TimestampSummary
from signer.timestamp.request import build_request
from signer.timestamp.token import parse_response, parse_token
from signer.verifier import ArtifactVerification, Check, TrustPolicyDocument, Verifier
from tests.plugins.reference import need_tool
from tests.servers.images import ImagePusher
from tests.servers.notation import Notation
from tests.servers.olareg import Olareg
from tests.servers.tsa import TsaFault, TsaServer
from tests.verifier import hostile, pki

Policy = Literal[
    "tsa", "tsa-after-expiry", "tsa-permissive", "tsa-revocation-skipped", "tsa-store-missing",
    "no-tsa",
]  # fmt: skip
Validity = Literal["valid", "expired", "ends-before", "starts-after", "ends-within-accuracy"]
ENDED: tuple[Validity, ...] = ("expired", "ends-before", "ends-within-accuracy")
Token = Literal["good"] | TsaFault | None  # None: no timestamp at all
KEY = hostile.signing_key("rsa2048")
ROOT_KEY = hostile.signing_key("p384")
ROOT = pki.certificate(ROOT_KEY, pki.name("Timestamp Verdicts Root"), ca=True)
TIMESTAMP = Check.AUTHENTIC_TIMESTAMP
STATEMENTS: dict[Policy, dict[str, object]] = {
    "tsa": {"level": "strict"},
    "tsa-after-expiry": {"level": "strict", "verifyTimestamp": "afterCertExpiry"},
    "tsa-permissive": {"level": "permissive"},
    "tsa-revocation-skipped": {"level": "strict", "override": {"revocation": "skip"}},
    "tsa-store-missing": {"level": "strict"},
    "no-tsa": {"level": "strict"},
}
TSA_STORES: dict[Policy, list[str]] = {"no-tsa": [], "tsa-store-missing": ["tsa:absent"]}


@dataclass(frozen=True)
class Case:
    policy: Policy
    token: Token
    validity: Validity
    notation: bool  # notation v1.3.2's verdict, as observed
    words: tuple[str, ...] = ()  # in both reasons, when the timestamp check fails or logs
    envelope: Literal["cose", "jws"] = "cose"
    configuration_error: bool = False  # ours: no verdict (README, "Verifier and notation")


EXPIRED_NOW = "verification time is after certificate"
NO_TOKEN = "no timestamp countersignature was found in the signature envelope"
VERIFY_FAILED = "failed to verify the timestamp countersignature"
REVOCATION_UNKNOWN = (
    "timestamping certificate with subject",
    "CN=TSA with a CRL,O=acr-notary-signer tests",
    "revocation status is unknown",
)
CASES: dict[str, Case] = {
    "good-token-valid-certificate": Case("tsa", "good", "valid", notation=True),
    "good-token-expired-certificate": Case("tsa", "good", "expired", notation=True),
    "jws-good-token-expired-certificate": Case("tsa", "good", "expired", True, envelope="jws"),
    "no-token-expired-certificate-no-tsa-store": Case(
        "no-tsa", None, "expired", False, (EXPIRED_NOW, "validity period, it was expired at")
    ),
    "good-token-ignored-without-tsa-store": Case(
        "no-tsa", "good", "expired", False, (EXPIRED_NOW,)
    ),
    "no-token-under-tsa-policy": Case("tsa", None, "valid", False, (NO_TOKEN,)),
    "jws-no-token-under-tsa-policy": Case("tsa", None, "valid", False, (NO_TOKEN,), "jws"),
    "wrong-imprint": Case(
        "tsa",
        "wrong_imprint",
        "valid",
        False,
        ("failed to get timestamp from timestamp countersignature", "mismatched message"),
    ),
    "untrusted-tsa-root": Case("tsa", "untrusted", "valid", False, (VERIFY_FAILED,)),
    "tsa-certificate-without-eku": Case(
        "tsa", "no_eku", "valid", False, (VERIFY_FAILED, "must have and only have")
    ),
    "tsa-certificate-eku-not-critical": Case(
        "tsa", "noncritical_eku", "valid", False, (VERIFY_FAILED, "extended key usage extension")
    ),
    "tsa-certificate-two-ekus": Case(
        "tsa", "extra_eku", "valid", False, (VERIFY_FAILED, "must have and only have")
    ),
    "tampered-token": Case("tsa", "tampered", "valid", False, (VERIFY_FAILED,)),
    "token-without-certificates": Case("tsa", "no_certs", "valid", False, (VERIFY_FAILED,)),
    "rsa-pss-token": Case("tsa", "pss", "valid", notation=True),
    "tsa-certificate-with-unreachable-crl": Case(
        "tsa", "revocable", "valid", False, REVOCATION_UNKNOWN
    ),
    "tsa-revocation-checked-when-revocation-is-skipped": Case(
        "tsa-revocation-skipped", "revocable", "valid", False, REVOCATION_UNKNOWN
    ),
    "timestamp-after-certificate-validity": Case(
        "tsa", "good", "ends-before", False, ("timestamp can be after certificate",)
    ),
    "timestamp-before-certificate-validity": Case(
        "tsa", "good", "starts-after", False, ("timestamp can be before certificate",)
    ),
    "certificate-ends-within-token-accuracy": Case(
        "tsa", "good", "ends-within-accuracy", False, ("timestamp can be after certificate",)
    ),
    "after-expiry-valid-certificate-no-token": Case(
        "tsa-after-expiry", None, "valid", notation=True
    ),
    "after-expiry-valid-certificate-tampered-token": Case(
        "tsa-after-expiry", "tampered", "valid", notation=True
    ),
    "after-expiry-expired-certificate-good-token": Case(
        "tsa-after-expiry", "good", "expired", notation=True
    ),
    "after-expiry-expired-certificate-no-token": Case(
        "tsa-after-expiry", None, "expired", False, (NO_TOKEN,)
    ),
    "after-expiry-expired-certificate-tampered-token": Case(
        "tsa-after-expiry", "tampered", "expired", False, (VERIFY_FAILED,)
    ),
    "after-expiry-not-yet-valid-certificate-no-token": Case(
        "tsa-after-expiry", None, "starts-after", False, ("verification time is before",)
    ),
    "permissive-logs-a-tampered-token": Case(
        "tsa-permissive", "tampered", "valid", True, (VERIFY_FAILED,)
    ),
    "permissive-logs-a-missing-token-on-an-expired-certificate": Case(
        "tsa-permissive", None, "expired", True, (NO_TOKEN,)
    ),
    # the tsa store is read only to check a token, by both
    "missing-tsa-store-no-token": Case("tsa-store-missing", None, "valid", False, (NO_TOKEN,)),
    "missing-tsa-store": Case(
        "tsa-store-missing",
        "good",
        "valid",
        False,
        ("failed to load tsa trust store",),
        configuration_error=True,
    ),
}

_ENDED = [name for name, case in CASES.items() if case.validity in ENDED]


@dataclass(frozen=True)
class Pushed:
    reference: str
    leaf: x509.Certificate


class Lab:
    """One TSA, one notation configuration, one olareg; a repository per case."""

    def __init__(self, olareg: Olareg, notation: Notation, tsa: TsaServer) -> None:
        self.olareg, self.notation, self.tsa = olareg, notation, tsa
        self.pusher = ImagePusher(olareg.url)
        self.prefix = f"tsa-verdicts/{uuid.uuid4().hex[:8]}"
        self.pushed: dict[str, Pushed] = {}

    def repository(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def configure(self) -> None:
        self.notation.trust([ROOT], "signing", "ca")
        self.notation.trust([self.tsa.root], "tsa", "tsa")
        statements = []
        for policy, verification in STATEMENTS.items():
            scopes = [
                f"{self.olareg.host}/{self.repository(name)}"
                for name, case in CASES.items()
                if case.policy == policy
            ]
            stores = ["ca:signing", *TSA_STORES.get(policy, ["tsa:tsa"])]
            statements.append(
                {
                    "name": policy,
                    "registryScopes": scopes,
                    "signatureVerification": verification,
                    "trustStores": stores,
                    "trustedIdentities": ["*"],
                }
            )
        self.notation.policy({"version": "1.0", "trustPolicies": statements})

    def token(self, signature: bytes, token: Token) -> bytes | None:
        if token is None:
            return None
        fault = None if token == "good" else token
        answer = parse_response(self.tsa.reply_for(build_request(signature, "sha256").der, fault))
        assert answer.token is not None
        return answer.token

    def sign(self, name: str, case: Case) -> None:
        repository = self.repository(name)
        image = self.pusher.push_image(repository, layer_text=f"timestamp verdict {name}\n")
        subject = Descriptor(image.media_type, image.digest, image.size)
        signed_at = datetime.now(UTC)
        if case.envelope == "cose":
            # signed with a stand-in leaf: the chain is unprotected, the real one comes later
            signer = LocalSigner(KEY, [_leaf("valid", _time_range(None, signed_at)), ROOT])
            unsigned = prepare_envelope(build_payload(subject), signer, signing_time=signed_at)
            signature = signer.sign(unsigned.to_be_signed())
            token = self.token(signature, case.token)
            leaf = _leaf(case.validity, _time_range(token, signed_at))
            envelope = replace(unsigned, chain=(leaf, ROOT)).complete(
                signature, timestamp_token=token
            )
            media_type = COSE_MEDIA_TYPE
        else:
            envelope, leaf = self._jws(subject, case, signed_at)
            media_type = JWS_MEDIA_TYPE
        self.push_signature(repository, subject, envelope, media_type, leaf)
        self.pushed[name] = Pushed(f"{self.olareg.host}/{repository}@{image.digest}", leaf)

    def _jws(
        self, subject: Descriptor, case: Case, signed_at: datetime
    ) -> tuple[bytes, x509.Certificate]:
        when = signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        doc = json.loads(
            hostile.jws(
                build_payload(subject),
                [hostile.der(_leaf("valid", _time_range(None, signed_at)))],
                KEY,
                protected={"io.cncf.notary.signingTime": when},
            )
        )
        signature = base64.urlsafe_b64decode(doc["signature"] + "=" * (-len(doc["signature"]) % 4))
        token = self.token(signature, case.token)
        leaf = _leaf(case.validity, _time_range(token, signed_at))
        doc["header"]["x5c"] = [base64.b64encode(hostile.der(c)).decode() for c in (leaf, ROOT)]
        if token is not None:
            doc["header"]["io.cncf.notary.timestampSignature"] = base64.b64encode(token).decode()
        return json.dumps(doc).encode(), leaf

    def push_signature(
        self,
        repository: str,
        subject: Descriptor,
        envelope: bytes,
        media_type: str,
        leaf: x509.Certificate,
    ) -> None:
        self.pusher.push_blob(repository, EMPTY_JSON)
        self.pusher.push_blob(repository, envelope)
        annotations = {ANNOTATION_THUMBPRINTS: json.dumps(thumbprints([leaf, ROOT]))}
        layer = Descriptor(media_type, digest_of(envelope), len(envelope))
        manifest = signature_manifest(subject, layer, annotations)
        self.pusher.push_manifest(repository, digest_of(manifest), manifest, OCI_MANIFEST)

    def ours(self, reference: str) -> ArtifactVerification:
        verifier = Verifier(
            TrustPolicyDocument.load(self.notation.config / "trustpolicy.json"),
            self.notation.config / "truststore",
        )
        options = RegistryOptions(self.olareg.host, insecure=True)
        with open_registry(options, lambda: build_credential(None)) as client:
            _, result = verify_reference(client, Reference.parse(reference), verifier)
        return result


def _time_range(token: bytes | None, signed_at: datetime) -> TimestampSummary:
    """The token's time range (genTime ± accuracy); for no token, the signing time."""
    if token is None:
        when = signed_at.replace(microsecond=0)
        return TimestampSummary(when, None, "", None, ())
    info = parse_token(token).info
    return TimestampSummary(info.gen_time, info.accuracy, info.policy, None, ())


def _leaf(validity: Validity, stamp: TimestampSummary) -> x509.Certificate:
    """The signing leaf, with a validity placed around the timestamp's range."""
    hour = timedelta(hours=1)
    not_before, not_after = {
        "valid": (stamp.earliest - hour, stamp.latest + 24 * hour),
        "expired": (stamp.earliest - hour, stamp.latest),  # over once the range is past
        "ends-before": (stamp.earliest - hour, stamp.earliest - timedelta(seconds=10)),
        "starts-after": (stamp.latest + hour, stamp.latest + 2 * hour),
        "ends-within-accuracy": (stamp.earliest - hour, stamp.time),
    }[validity]
    return pki.certificate(
        KEY,
        pki.name("Timestamp Verdicts Signer"),
        issuer_key=ROOT_KEY,
        issuer=ROOT.subject,
        not_before=not_before,
        not_after=not_after,
    )


@pytest.fixture(scope="module")
def lab(olareg: Olareg, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("tsa-verdicts")
    notation = Notation(home / "notation-home", need_tool("notation"))
    with TsaServer() as tsa:
        lab = Lab(olareg, notation, tsa)
        lab.configure()
        for name, case in CASES.items():
            lab.sign(name, case)
        # one wait (about a second) until every leaf meant to be over at verification is
        last = max(lab.pushed[name].leaf.not_valid_after_utc for name in _ENDED)
        time.sleep(max(0.0, (last - datetime.now(UTC)).total_seconds()) + 0.2)
        yield lab


@pytest.mark.parametrize("name", CASES)
def test_timestamp_verdict_against_notation(lab: Lab, name: str) -> None:
    case = CASES[name]
    pushed = lab.pushed[name]
    if case.validity in ENDED:
        assert datetime.now(UTC) > pushed.leaf.not_valid_after_utc  # the lab waited for it
    theirs = lab.notation.verify(pushed.reference, verbose=True)
    said = theirs.stdout + theirs.stderr
    assert theirs.passed is case.notation, f"notation's verdict changed: {theirs}"
    if case.configuration_error:  # notation: a failed check; we refuse to give a verdict
        assert f"{TIMESTAMP} validation failed" in said and all(w in said for w in case.words)
        with pytest.raises(ConfigurationError, match="trust store tsa:absent does not exist"):
            lab.ours(pushed.reference)
        return
    ours = lab.ours(pushed.reference)
    (outcome,) = ours.outcomes
    assert ours.verified is case.notation, f"{outcome.error}\nnotation: {theirs}"
    assert not outcome.internal_error
    timestamp = next(r for r in outcome.results if r.check == TIMESTAMP)
    # the timestamp check is the one that failed (or, under permissive, was logged) in both
    assert (f"{TIMESTAMP} validation failed" in said) is bool(case.words), theirs
    assert (timestamp.error is not None) is bool(case.words), outcome
    for words in case.words:
        assert words in said, theirs
        assert words in str(timestamp.error), timestamp.error
    if case.notation:
        assert outcome.error is None
    else:
        assert outcome.error == timestamp.error, outcome
        assert outcome.results[-1].check == TIMESTAMP


def _our_inspect(reference: str, *extra: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = main(["inspect", reference, "--insecure-registry", *extra], out=out, err=err)
    assert code == 0, err.getvalue()
    return out.getvalue()


def _rfc3339_range(stamp: dict[str, Any]) -> str:
    return f"[{stamp['earliest']}, {stamp['latest']}]"


@pytest.mark.parametrize(
    "name", ["good-token-valid-certificate", "jws-good-token-expired-certificate", "wrong-imprint"]
)
def test_inspect_shows_the_countersignature_as_notation_inspect_does(lab: Lab, name: str) -> None:
    reference = lab.pushed[name].reference
    run = lab.notation.run("inspect", reference, "--insecure-registry", "-o", "json")
    assert run.passed, run
    (theirs_signature,) = json.loads(run.stdout)["Signatures"]
    theirs = theirs_signature["unsignedAttributes"]["timestampSignature"]
    (ours_signature,) = json.loads(_our_inspect(reference, "-o", "json"))["signatures"]
    ours = ours_signature["timestampSignature"]
    if "error" in theirs:  # a token over something else: both say so, and show nothing else
        for words in ("failed to parse timestamp countersignature: ", "mismatched message"):
            assert words in theirs["error"] and words in ours["error"], (theirs, ours)
        assert ours["genTime"] is None and ours["certificates"] == []
        return
    assert ours["error"] is None
    assert _rfc3339_range(ours) == theirs["timestamp"]
    assert [
        (c["sha256Fingerprint"], c["subject"], c["issuer"], c["notAfter"])
        for c in ours["certificates"]
    ] == [
        (c["SHA256Fingerprint"], c["issuedTo"], c["issuedBy"], c["expiry"])
        for c in theirs["certificates"]
    ]
    assert ours["tsaSubject"] == "CN=Test TSA,O=acr-notary-signer tests"
    text = _our_inspect(reference)
    assert "    timestamp signature (read, not verified):\n" in text
    assert f"        signed by: {ours['tsaSubject']}\n" in text
    for cert in ours["certificates"]:
        assert f"            sha256 thumbprint: {cert['sha256Fingerprint']}\n" in text
