"""The real notation (v1.3.2) and this package agree on timestamps, both ways.

notation signs with ``--timestamp-url`` against the local TSA: its request is byte for
byte ours (but for the nonce), its envelope carries the TSA's token as sent, and
``verify_timestamp_token`` accepts that token. A COSE envelope built here, with a token
from our Timestamper in the header where notation puts it, passes ``notation verify``
under a trust policy with a ``tsa:`` store — before and after the signing certificate
expired, while the untimestamped controls fail as notation's rules say.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signer.certs import thumbprints
from signer.envelope import ParsedEnvelope, build_envelope, parse_envelope
from signer.mediatypes import (
    ANNOTATION_CREATED,
    ANNOTATION_THUMBPRINTS,
    COSE_MEDIA_TYPE,
    EMPTY_JSON,
    HEADER_TIMESTAMP_SIGNATURE,
    OCI_MANIFEST,
)
from signer.models import Descriptor
from signer.payload import build_payload
from signer.registry.manifests import digest_of, signature_manifest
from signer.signers.local import LocalSigner
from signer.timestamp import Timestamper, TimestampInvalidError, verify_timestamp_token
from signer.timestamp.request import build_request
from signer.timestamp.token import parse_response
from tests.servers.images import ImagePusher, PushedImage
from tests.servers.notation import Notation, NotationRun
from tests.servers.olareg import Olareg
from tests.servers.tsa import TsaFault, TsaServer
from tests.timestamp.helpers import (
    signing_chain,
    tsa_and_control_policy,
    with_timestamp,
    write_signing_key,
)
from tests.verifier import pki

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class Setup:
    olareg: Olareg
    notation: Notation
    tsa: TsaServer
    key: PrivateKey
    chain: list[x509.Certificate]
    pusher: ImagePusher

    def ref(self, repository: str, image: PushedImage) -> str:
        return f"{self.olareg.host}/{repository}@{image.digest}"

    def notation_sign(self, ref: str, *, timestamp: bool) -> NotationRun:
        extra = ["--force-referrers-tag=false"]
        if timestamp:
            extra += [
                "--timestamp-url",
                self.tsa.url,
                "--timestamp-root-cert",
                str(self.tsa.root_path),
            ]
        run = self.notation.sign(ref, key="test", extra=extra)
        assert run.passed, run
        return run

    def envelope_for(self, image: PushedImage) -> tuple[Descriptor, bytes]:
        """An envelope signed here (build_envelope) for ``image``: (subject, envelope)."""
        subject = Descriptor(image.media_type, image.digest, image.size)
        envelope = build_envelope(
            build_payload(subject),
            LocalSigner(self.key, self.chain),
            signing_time=datetime.now(UTC),
        )
        return subject, envelope

    def push_signature(self, repository: str, subject: Descriptor, envelope: bytes) -> None:
        """The signature manifest notation pushes, over ``envelope``."""
        self.pusher.push_blob(repository, EMPTY_JSON)
        self.pusher.push_blob(repository, envelope)
        annotations = {
            ANNOTATION_THUMBPRINTS: json.dumps(thumbprints(self.chain), separators=(",", ":")),
            ANNOTATION_CREATED: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        layer = Descriptor(COSE_MEDIA_TYPE, digest_of(envelope), len(envelope))
        manifest = signature_manifest(subject, layer, annotations)
        self.pusher.push_manifest(repository, digest_of(manifest), manifest, OCI_MANIFEST)

    def push_own_signature(self, repository: str, image: PushedImage, *, timestamp: bool) -> bytes:
        """Sign ``image`` here, timestamped by our Timestamper when asked, and push it."""
        subject, envelope = self.envelope_for(image)
        if timestamp:
            parsed = parse_envelope(envelope)
            with Timestamper(self.tsa.url, [self.tsa.root]) as stamper:
                stamp = stamper.timestamp(parsed.signature, parsed.algorithm.hash_name, self.chain)
            envelope = with_timestamp(envelope, stamp.token)
        self.push_signature(repository, subject, envelope)
        return envelope

    def envelopes(self, repository: str, image: PushedImage) -> list[ParsedEnvelope]:
        """Every signature envelope the registry lists for ``image``."""
        base = f"{self.olareg.url}/v2/{repository}"
        index = requests.get(f"{base}/referrers/{image.digest}", timeout=10).json()
        out = []
        for entry in index.get("manifests") or []:
            manifest = requests.get(
                f"{base}/manifests/{entry['digest']}",
                headers={"Accept": OCI_MANIFEST},
                timeout=10,
            ).json()
            blob = requests.get(f"{base}/blobs/{manifest['layers'][0]['digest']}", timeout=10)
            out.append(parse_envelope(blob.content))
        return out


def _setup(
    tmp_path: Path,
    olareg: Olareg,
    notation: Notation,
    tsa: TsaServer,
    *,
    kind: str = "rsa2048",
    not_after: datetime = pki.NOT_AFTER,
) -> Setup:
    key, chain = signing_chain(
        kind, not_before=datetime.now(UTC) - timedelta(hours=1), not_after=not_after
    )
    notation.signing_key("test", *write_signing_key(tmp_path, key, chain))
    notation.trust([chain[-1]], "signing", "ca")
    notation.trust([tsa.root], "tsa", "tsa")
    return Setup(olareg, notation, tsa, key, chain, ImagePusher(olareg.url))


@pytest.fixture
def setup(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    olareg: Olareg,
    notation: Notation,
    tsa_server: TsaServer,
) -> Setup:
    """notation with a long-lived signing key (RSA-2048, or the kind parametrized
    indirectly), a ``ca:`` and a ``tsa:`` store."""
    kind = getattr(request, "param", "rsa2048")
    return _setup(tmp_path, olareg, notation, tsa_server, kind=kind)


@pytest.mark.parametrize("setup", ["rsa2048", "p384", "rsa4096", "p521"], indirect=True)
def test_notation_s_timestamp_request_and_token_are_ours(
    setup: Setup, tsa_server: TsaServer, repository_name: str
) -> None:
    """For PS256, ES384, PS512 and ES512 signatures: notation hashes the signature value
    with the signature algorithm's hash, as we do."""
    image = setup.pusher.push_image(repository_name, "v1")
    setup.notation_sign(setup.ref(repository_name, image), timestamp=True)
    assert tsa_server.requests == 1  # notation: one TSA round trip per signature

    (envelope,) = setup.envelopes(repository_name, image)
    token = envelope.unprotected[HEADER_TIMESTAMP_SIGNATURE]
    # notation embeds the TSA's token exactly as the TSA sent it ...
    assert token == bytes(tsp.TimeStampResp.load(tsa_server.replies[0])["time_stamp_token"].dump())
    # ... and it is a good countersignature of the envelope's signature value for us
    stamp = verify_timestamp_token(token, envelope.signature, [tsa_server.root])
    stamp.check_within(envelope.chain)

    # our request for the same signature is notation's, byte for byte, but for the nonce
    with Timestamper(tsa_server.url, [tsa_server.root]) as stamper:
        stamper.timestamp(envelope.signature, envelope.algorithm.hash_name, envelope.chain)
    theirs, ours = (tsp.TimeStampReq.load(q) for q in tsa_server.queries)
    ours["nonce"] = theirs["nonce"].native
    assert ours.dump(force=True) == tsa_server.queries[0]
    assert theirs["nonce"].native < 2**159


def _verify(setup: Setup, ref: str) -> NotationRun:
    return setup.notation.verify(ref, verbose=True)


def test_timestamped_signatures_outlive_their_certificate(
    tmp_path: Path, olareg: Olareg, notation: Notation, tsa_server: TsaServer, repository_name: str
) -> None:
    # long enough for a loaded CI machine to sign and verify five times (about 1 s here)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=12)
    setup = _setup(tmp_path, olareg, notation, tsa_server, not_after=expires)
    timestamped, control = repository_name, f"{repository_name}-control"
    tsa_and_control_policy(notation, olareg.host, timestamped, control)
    by_notation = setup.pusher.push_image(timestamped, "by-notation")
    by_us = setup.pusher.push_image(timestamped, "by-us")
    bare_in_tsa_scope = setup.pusher.push_image(timestamped, "untimestamped")
    bare_by_notation = setup.pusher.push_image(control, "by-notation")
    bare_by_us = setup.pusher.push_image(control, "by-us")

    setup.notation_sign(setup.ref(timestamped, by_notation), timestamp=True)
    our_envelope = setup.push_own_signature(timestamped, by_us, timestamp=True)
    setup.notation_sign(setup.ref(timestamped, bare_in_tsa_scope), timestamp=False)
    setup.notation_sign(setup.ref(control, bare_by_notation), timestamp=False)
    setup.push_own_signature(control, bare_by_us, timestamp=False)
    assert tsa_server.requests == 2
    assert datetime.now(UTC) < expires, "signing took too long for this test's 12 s window"

    def verdicts() -> dict[str, NotationRun]:
        return {
            "timestamped by notation": _verify(setup, setup.ref(timestamped, by_notation)),
            "timestamped by us": _verify(setup, setup.ref(timestamped, by_us)),
            "untimestamped, tsa policy": _verify(setup, setup.ref(timestamped, bare_in_tsa_scope)),
            "untimestamped by notation": _verify(setup, setup.ref(control, bare_by_notation)),
            "untimestamped by us": _verify(setup, setup.ref(control, bare_by_us)),
        }

    before = verdicts()
    assert datetime.now(UTC) < expires, "verification took too long for this test's window"
    assert before["timestamped by notation"].passed, before["timestamped by notation"]
    assert before["timestamped by us"].passed, before["timestamped by us"]
    assert before["untimestamped by notation"].passed, before["untimestamped by notation"]
    assert before["untimestamped by us"].passed, before["untimestamped by us"]
    failed = before["untimestamped, tsa policy"]
    assert not failed.passed
    assert "no timestamp countersignature was found" in failed.stdout + failed.stderr

    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 1.5)

    after = verdicts()
    assert after["timestamped by notation"].passed, after["timestamped by notation"]
    assert after["timestamped by us"].passed, after["timestamped by us"]
    for name in ("untimestamped by notation", "untimestamped by us"):
        run = after[name]
        assert not run.passed, run
        assert "validity period, it was expired at" in run.stdout + run.stderr, run
    # and our own verifier agrees on our envelope after expiry
    parsed = parse_envelope(our_envelope)
    stamp = verify_timestamp_token(
        parsed.unprotected[HEADER_TIMESTAMP_SIGNATURE], parsed.signature, [tsa_server.root]
    )
    stamp.check_within(parsed.chain)
    assert stamp.latest <= expires < datetime.now(UTC)


# words notation v1.3.2 and verify_timestamp_token both use for each broken token
SHARED_WORDS: dict[str, tuple[str, ...]] = {
    "wrong_imprint": (
        "failed to get timestamp from timestamp countersignature",
        "mismatched message",
    ),
    "no_eku": ("failed to verify the timestamp countersignature", "must have and only have"),
    "untrusted": ("failed to verify the timestamp countersignature", "signed by unknown authority"),
}


@pytest.mark.parametrize("fault", sorted(SHARED_WORDS))
def test_notation_refuses_the_tokens_we_refuse(
    setup: Setup, tsa_server: TsaServer, repository_name: str, fault: TsaFault
) -> None:
    """Broken tokens in an envelope of ours fail ``notation verify`` and our verifier, for
    the same reason in the same words."""
    tsa_and_control_policy(
        setup.notation, setup.olareg.host, repository_name, f"{repository_name}-control"
    )
    image = setup.pusher.push_image(repository_name, "v1")
    subject, envelope = setup.envelope_for(image)
    signature = parse_envelope(envelope).signature
    reply = tsa_server.reply_for(build_request(signature, "sha256").der, fault)
    token = parse_response(reply).token
    assert token is not None
    setup.push_signature(repository_name, subject, with_timestamp(envelope, token))
    run = _verify(setup, setup.ref(repository_name, image))
    assert not run.passed, run
    with pytest.raises(TimestampInvalidError) as ours:
        verify_timestamp_token(token, signature, [tsa_server.root])
    for words in SHARED_WORDS[fault]:
        assert words in run.stdout + run.stderr, run
        assert words in ours.value.message
