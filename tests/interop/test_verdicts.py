"""Our verdicts against the real notation v1.3.2, on signatures made to probe the edges.

Each case pushes crafted signatures (valid signatures over hostile or unusual content) as
signature manifests to olareg, runs ``notation verify`` and ``python -m signer verify``
with the same trustpolicy.json and trust store, and asserts notation's recorded verdict
(so a change in the reference tool is noticed) and ours. Where we decide differently the
case says why; each such difference is also in the README ("Verifier and notation").

Issue 9, findings 8 and 12.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes

from signer.cli import main
from signer.envelope import build_envelope
from signer.mediatypes import COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, OCI_MANIFEST
from signer.models import Descriptor
from signer.payload import build_payload
from signer.registry.manifests import signature_manifest
from signer.signers.local import LocalSigner
from tests.servers.images import ImagePusher, PushedImage, sha256
from tests.servers.notation import Notation, NotationRun
from tests.servers.olareg import Olareg
from tests.verifier import hostile, pki

KEY = hostile.signing_key()
LEAF = pki.certificate(KEY, pki.name("Verdict Probe"))
NAME = b"Verdict Probe"
ROOT_KEY = hostile.signing_key("p384")
ROOT_LOOSE = pki.certificate(  # a CA whose basicConstraints is not marked critical
    ROOT_KEY, pki.name("Loose Root"), ca=True, basic_constraints_critical=False
)
CA_LEAF_KEY = hostile.signing_key("p256")
CA_LEAF = pki.certificate(
    CA_LEAF_KEY, pki.name("Loose Leaf"), issuer_key=ROOT_KEY, issuer=ROOT_LOOSE.subject
)
SHA1_LEAF = hostile.resign(
    LEAF,
    KEY,
    [(hostile.OID_SHA256_RSA, hostile.OID_SHA1_RSA)],
    hash_algorithm=hashes.SHA1(),  # noqa: S303  (the point: a SHA-1 certificate)
)
SIGNING_TIME = "io.cncf.notary.signingTime"
Envelope = tuple[bytes, str]  # (blob, layer media type)


def target(image: PushedImage, **extra: Any) -> dict[str, Any]:
    return {"mediaType": image.media_type, "digest": image.digest, "size": image.size, **extra}


def payload(image: PushedImage) -> bytes:
    return json.dumps({"targetArtifact": target(image)}).encode()


def cose(
    body: bytes, chain: list[bytes] | None = None, protected: dict[Any, Any] | None = None
) -> Envelope:
    blob = hostile.cose(body, chain or [hostile.der(LEAF)], KEY, protected=protected)
    return blob, COSE_MEDIA_TYPE


def jws_time(image: PushedImage, when: str) -> Envelope:
    blob = hostile.jws(payload(image), [hostile.der(LEAF)], KEY, protected={SIGNING_TIME: when})
    return blob, JWS_MEDIA_TYPE


def cose_time(image: PushedImage, seconds: int | float) -> Envelope:
    return cose(payload(image), protected={SIGNING_TIME: cbor2.CBORTag(1, seconds)})


def good(image: PushedImage) -> Envelope:
    subject = Descriptor(image.media_type, image.digest, image.size)
    blob = build_envelope(
        build_payload(subject), LocalSigner(KEY, [LEAF]), signing_time=hostile.SIGNING_TIME
    )
    return blob, COSE_MEDIA_TYPE


@dataclass(frozen=True)
class Case:
    make: Callable[[PushedImage], list[Envelope]]
    notation: bool  # notation v1.3.2's verdict, as observed
    ours: bool | None = None  # None: the same as notation's
    why: str = ""  # for a difference: the rule we follow instead
    trust: tuple[Any, ...] = (LEAF,)

    @property
    def expected(self) -> bool:
        return self.notation if self.ours is None else self.ours


RFC3339 = "signature-envelope-jws.md: the value is an RFC 3339 date-time"
CASES: dict[str, Case] = {
    # --- accepted by us before, rejected by notation: now rejected -------------------
    "payload-utf8-bom": Case(lambda i: [cose(b"\xef\xbb\xbf" + payload(i))], notation=False),
    "payload-utf16": Case(lambda i: [cose(payload(i).decode().encode("utf-16"))], notation=False),
    "jws-protected-header-utf16": Case(
        lambda i: [
            (
                hostile.jws(
                    payload(i),
                    [hostile.der(LEAF)],
                    KEY,
                    protected_bytes=json.dumps(hostile.jws_header(KEY)).encode("utf-16"),
                ),
                JWS_MEDIA_TYPE,
            )
        ],
        notation=False,
    ),
    "jws-time-non-ascii-digits": Case(
        lambda i: [jws_time(i, "\u0662\u0660\u0662\u0666-11-22T04:00:00Z")], notation=False
    ),
    "jws-time-trailing-newline": Case(lambda i: [jws_time(i, "2026-11-22T04:00:00Z\n")], False),
    "jws-time-offset-minute-99": Case(lambda i: [jws_time(i, "2026-11-22T04:00:00-00:99")], False),
    # --- rejected by us before, accepted by notation: now accepted ------------------
    "payload-extra-top-level-member": Case(
        lambda i: [cose(json.dumps({"targetArtifact": target(i), "x": [1]}).encode())],
        notation=True,
    ),
    "payload-extra-target-member": Case(
        lambda i: [cose(json.dumps({"targetArtifact": target(i, urls=["u"], x=1)}).encode())],
        notation=True,
    ),
    "payload-keys-in-other-case": Case(
        lambda i: [
            cose(
                json.dumps(
                    {"TARGETARTIFACT": {k.upper(): v for k, v in target(i).items()}}
                ).encode()
            )
        ],
        notation=True,
    ),
    "payload-repeated-target-merged": Case(
        lambda i: [
            cose(
                (  # the same member twice: Go decodes the second into the first
                    '{"targetArtifact": {"mediaType": "'
                    + i.media_type
                    + '", "digest": "'
                    + i.digest
                    + '", "size": 1}, "targetArtifact": {"size": '
                    + str(i.size)
                    + "}}"
                ).encode()
            )
        ],
        notation=True,
    ),
    "jws-time-13-fraction-digits": Case(
        lambda i: [jws_time(i, "2026-11-22T04:00:00.1234567891234Z")], notation=True
    ),
    "jws-time-year-0000": Case(lambda i: [jws_time(i, "0000-01-01T00:00:00Z")], notation=True),
    "jws-time-after-year-9999": Case(
        lambda i: [jws_time(i, "9999-12-31T23:59:59-23:59")], notation=True
    ),
    "cose-time-fraction": Case(lambda i: [cose_time(i, 1795407400.5)], notation=True),
    "cose-time-year-33658": Case(lambda i: [cose_time(i, 10**12)], notation=True),
    "cose-time-int64-max": Case(lambda i: [cose_time(i, 2**63 - 1)], notation=True),
    "cose-time-before-1970": Case(lambda i: [cose_time(i, -1000)], notation=True),
    # --- rejected by both -------------------------------------------------------------
    "cose-time-beyond-int64": Case(lambda i: [cose_time(i, 2**64 - 1)], notation=False),
    "cose-time-go-zero": Case(lambda i: [cose_time(i, -62135596800)], notation=False),
    "payload-nested-100000-deep": Case(
        lambda i: [cose(b"[" * 100_000 + b"]" * 100_000)], notation=False
    ),
    "payload-size-as-float": Case(
        lambda i: [cose(json.dumps({"targetArtifact": target(i, size=float(i.size))}).encode())],
        notation=False,
    ),
    "certificate-name-invalid-utf8": Case(
        lambda i: [cose(payload(i), [hostile.resign(LEAF, KEY, [(NAME, b"\xff\xfe" + NAME[2:])])])],
        notation=False,
    ),
    "certificate-version-5": Case(
        lambda i: [
            cose(
                payload(i),
                [hostile.resign(LEAF, KEY, [(hostile.VERSION_3, b"\xa0\x03\x02\x01\x05")])],
            )
        ],
        notation=False,
    ),
    "certificate-unknown-key-algorithm": Case(
        lambda i: [
            cose(
                payload(i),
                [hostile.resign(LEAF, KEY, [(hostile.OID_RSA_KEY, hostile.OID_UNKNOWN_KEY)])],
            )
        ],
        notation=False,
    ),
    # --- hostile signatures listed before a good one --------------------------------
    "hostile-first-then-good": Case(
        lambda i: [
            cose(b"[" * 100_000 + b"]" * 100_000),
            cose(
                payload(i),
                [hostile.resign(LEAF, KEY, [(hostile.VERSION_3, b"\xa0\x03\x02\x01\x05")])],
            ),
            jws_time(i, "2026-11-22T04:00:00+24:00"),
            good(i),
        ],
        notation=True,
    ),
    # --- where we follow the specification instead ------------------------------------
    "ca-basic-constraints-not-critical": Case(
        lambda i: [
            (
                build_envelope(
                    build_payload(Descriptor(i.media_type, i.digest, i.size)),
                    LocalSigner(CA_LEAF_KEY, [CA_LEAF, ROOT_LOOSE]),
                    signing_time=hostile.SIGNING_TIME,
                ),
                COSE_MEDIA_TYPE,
            )
        ],
        notation=True,
        ours=False,
        why="signature-specification.md: a CA's basicConstraints MUST be marked critical",
        trust=(ROOT_LOOSE,),
    ),
    "leaf-self-signed-with-sha1": Case(
        lambda i: [cose(payload(i), [SHA1_LEAF])],
        notation=True,
        ours=False,
        why="signature-specification.md: no certificate of the chain may use SHA1WithRSA",
        trust=(SHA1_LEAF,),
    ),
    "jws-time-offset-24h": Case(
        lambda i: [jws_time(i, "2026-11-22T04:00:00+24:00")], True, False, RFC3339
    ),
    "jws-time-offset-minute-60": Case(
        lambda i: [jws_time(i, "2026-11-22T04:00:00+23:60")], True, False, RFC3339
    ),
    "jws-time-one-digit-hour": Case(
        lambda i: [jws_time(i, "2026-11-22T4:00:00Z")], True, False, RFC3339
    ),
    "jws-time-comma-fraction": Case(
        lambda i: [jws_time(i, "2026-11-22T04:00:00,5Z")], True, False, RFC3339
    ),
}


class Lab:
    """olareg, the real notation and our CLI, sharing one trust policy and trust store."""

    def __init__(self, olareg: Olareg, notation: Notation, repository: str) -> None:
        self.olareg, self.notation, self.repository = olareg, notation, repository
        self.pusher = ImagePusher(olareg.url)

    def trust(self, certificates: tuple[Any, ...]) -> None:
        self.notation.trust(
            [
                c if isinstance(c, pki.x509.Certificate) else pki.x509.load_der_x509_certificate(c)
                for c in certificates
            ],
            "probe",
        )
        self.notation.simple_policy("*", "probe")

    def push(self, image: PushedImage, envelopes: list[Envelope]) -> None:
        subject = Descriptor(image.media_type, image.digest, image.size)
        self.pusher.push_blob(self.repository, b"{}")
        for n, (blob, media_type) in enumerate(envelopes):
            layer = Descriptor(media_type, self.pusher.push_blob(self.repository, blob), len(blob))
            manifest = signature_manifest(subject, layer, {"n": str(n)})
            self.pusher.push_manifest(self.repository, sha256(manifest), manifest, OCI_MANIFEST)

    def push_raw_manifest(self, image: PushedImage, manifest: dict[str, Any]) -> None:
        body = json.dumps(manifest).encode()
        self.pusher.push_manifest(self.repository, sha256(body), body, OCI_MANIFEST)

    def reference(self, image: PushedImage) -> str:
        return f"{self.olareg.host}/{self.repository}@{image.digest}"

    def notation_verify(self, image: PushedImage) -> NotationRun:
        return self.notation.verify(self.reference(image), verbose=True)

    def our_verify(self, image: PushedImage, *extra: str) -> tuple[int, str, str]:
        config = self.notation.config
        out, err = io.StringIO(), io.StringIO()
        argv = [
            "verify",
            self.reference(image),
            "--trust-policy",
            str(config / "trustpolicy.json"),
            "--trust-store",
            str(config / "truststore"),
            "--insecure-registry",
            *extra,
        ]
        code = main(argv, out=out, err=err)
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def lab(olareg: Olareg, notation: Notation, repository_name: str) -> Lab:
    return Lab(olareg, notation, repository_name)


@pytest.mark.parametrize("name", CASES)
def test_verdict_against_notation(lab: Lab, name: str) -> None:
    case = CASES[name]
    image = lab.pusher.push_image(lab.repository, layer_text=f"verdict probe {name}\n")
    lab.trust(case.trust)
    lab.push(image, case.make(image))
    theirs = lab.notation_verify(image)
    code, out, err = lab.our_verify(image, "-o", "json")
    assert theirs.passed is case.notation, f"notation's verdict changed: {theirs}"
    assert code in (0, 1), err  # a verdict, never a usage error or a traceback
    result = json.loads(out)
    assert (code == 0) is case.expected, f"{err}\n{case.why}\nnotation: {theirs}"
    assert result["status"] == ("verified" if case.expected else "failed")
    assert not any("internal error" in str(s["error"]) for s in result["signatures"])


def test_a_malformed_signature_manifest_does_not_block_a_good_signature(lab: Lab) -> None:
    """notation aborts when a listed signature cannot be fetched; we count it as failed."""
    image = lab.pusher.push_image(lab.repository, layer_text="malformed manifest first\n")
    lab.trust((LEAF,))
    blob, _ = good(image)
    digest = lab.pusher.push_blob(lab.repository, blob)
    lab.pusher.push_blob(lab.repository, b"{}")
    subject = Descriptor(image.media_type, image.digest, image.size)
    two_layers = json.loads(
        signature_manifest(subject, Descriptor(COSE_MEDIA_TYPE, digest, len(blob)), {})
    )
    two_layers["layers"] *= 2
    lab.push_raw_manifest(image, two_layers)
    lab.push(image, [good(image)])
    theirs = lab.notation_verify(image)
    code, out, err = lab.our_verify(image, "-o", "json")
    assert not theirs.passed and "exactly one signature envelope blob" in theirs.stderr
    assert code == 0, err
    statuses = sorted(s["status"] for s in json.loads(out)["signatures"])
    assert statuses in (["verified"], ["failed", "verified"])  # in the registry's order


def test_skip_level_wording_matches_notation(lab: Lab) -> None:
    image = lab.pusher.push_image(lab.repository, layer_text="skip wording\n")
    lab.notation.policy(
        {
            "version": "1.0",
            "trustPolicies": [
                {
                    "name": "skip",
                    "registryScopes": ["*"],
                    "signatureVerification": {"level": "skip"},
                }
            ],
        }
    )
    (lab.notation.config / "truststore").mkdir(exist_ok=True)
    theirs = lab.notation.verify(lab.reference(image))
    code, out, err = lab.our_verify(image)
    assert theirs.passed and code == 0, (theirs, err)
    assert out == theirs.stdout
    assert out.startswith("Trust policy is configured to skip signature verification for ")
