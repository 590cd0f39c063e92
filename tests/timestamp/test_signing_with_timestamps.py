"""Timestamped signatures from every entry point, judged by the real notation (issue 12).

The app (event handler and ``POST /api/sign``) and the CLI sign with a certificate that
expires seconds later, each signature timestamped by the local TSA (``openssl ts``).
``notation verify`` under a policy with a ``tsa:`` store passes them before and after the
certificate expired; the untimestamped control, signed by the same key, passes before
and fails after, as notation's rules say. Then what the ledger, ``/api/status``, the
outcome event and the CLI report, and TSA faults through the whole attempt: each is the
right error, recorded, and nothing is pushed.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from scripts.sample_events import push_event
from signer.certs import subject_of
from signer.cli import main as cli_main
from signer.envelope import parse_envelope
from signer.mediatypes import HEADER_TIMESTAMP_SIGNATURE
from signer.models import Descriptor
from signer.registry import signature_layer
from signer.timestamp import TimestampUnavailableError, verify_timestamp_token
from tests.plugins.app import SignerApp
from tests.servers.images import PushedImage
from tests.servers.notation import Notation, NotationRun
from tests.servers.olareg import Olareg
from tests.servers.tsa import TsaFault, TsaServer, refused_url
from tests.timestamp.helpers import signing_chain, tsa_and_control_policy, write_signing_key

#: the signing certificate's remaining life: enough for a loaded CI machine to sign four
#: artifacts and verify them (about 2 s here), short enough to wait out
WINDOW = timedelta(seconds=15)


@dataclass
class Signing:
    key_path: Path
    chain_path: Path
    chain: list[x509.Certificate]
    expires: datetime


def _short_lived_signing_key(tmp_path: Path, lifetime: timedelta) -> Signing:
    expires = datetime.now(UTC).replace(microsecond=0) + lifetime
    key, chain = signing_chain("p256", not_before=datetime.now(UTC) - timedelta(hours=1),
                               not_after=expires)  # fmt: skip
    key_path, chain_path = write_signing_key(tmp_path, key, chain)
    return Signing(key_path, chain_path, chain, expires)


def _trust(
    notation: Notation, signing: Signing, tsa: TsaServer, *, scopes: tuple[str, str, str]
) -> None:
    """``scopes``: (registry host, repository needing a timestamp, control repository)."""
    notation.trust([signing.chain[-1]], "signing", "ca")
    notation.trust([tsa.root], "tsa", "tsa")
    tsa_and_control_policy(notation, *scopes)


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _app_with_tsa(
    make_app_on: Callable[..., SignerApp], olareg: Olareg, signing: Signing, tsa: TsaServer
) -> SignerApp:
    return make_app_on(
        olareg,
        SIGNER_LOCAL_KEY=str(signing.key_path),
        SIGNER_LOCAL_CERT_CHAIN=str(signing.chain_path),
        SIGNER_TIMESTAMP_URL=tsa.url,
        SIGNER_TIMESTAMP_ROOT_CERT=str(tsa.root_path),
    )


@dataclass
class Stage:
    """What every test here uses: a referrers-API registry, the TSA, the app factory."""

    tmp_path: Path
    olareg: Olareg
    tsa: TsaServer
    make_app_on: Callable[..., SignerApp]
    repository: str

    def app(self, signing: Signing) -> SignerApp:
        return _app_with_tsa(self.make_app_on, self.olareg, signing, self.tsa)

    def ref(self, image: PushedImage, repository: str | None = None) -> str:
        return _ref(self.olareg, repository or self.repository, image)


@pytest.fixture
def stage(
    tmp_path: Path,
    olareg: Olareg,
    tsa_server: TsaServer,
    make_app_on: Callable[..., SignerApp],
    repository_name: str,
) -> Stage:
    return Stage(tmp_path, olareg, tsa_server, make_app_on, repository_name)


def _ref(olareg: Olareg, repository: str, image: PushedImage) -> str:
    return f"{olareg.host}/{repository}@{image.digest}"


def test_every_entry_point_makes_signatures_that_outlive_their_certificate(
    stage: Stage, notation: Notation
) -> None:
    tmp_path, olareg, tsa_server, make_app_on = (
        stage.tmp_path,
        stage.olareg,
        stage.tsa,
        stage.make_app_on,
    )
    repository_name = stage.repository
    tsa_subject = subject_of(tsa_server.identity.cert)
    signing = _short_lived_signing_key(tmp_path, WINDOW)
    timestamped, control = repository_name, f"{repository_name}-control"
    _trust(notation, signing, tsa_server, scopes=(olareg.host, timestamped, control))
    app = _app_with_tsa(make_app_on, olareg, signing, tsa_server)
    by_event = app.pusher.push_image(timestamped, "event")
    by_http = app.pusher.push_image(timestamped, "http")
    by_cli = app.pusher.push_image(timestamped, "cli")
    bare = app.pusher.push_image(control, "bare")

    app.deliver(push_event(olareg.host, timestamped, by_event.digest, tag="event",
                           size=by_event.size))  # fmt: skip
    status, body = app.http_sign({"reference": _ref(olareg, timestamped, by_http)})
    assert status == 200 and body["results"][0]["status"] == "signed", body
    stamp_json = body["results"][0]["timestamp"]
    key = ["--key", str(signing.key_path), "--cert", str(signing.chain_path)]
    tsa = ["--timestamp-url", tsa_server.url, "--timestamp-root-cert", str(tsa_server.root_path)]
    code, out, err = _cli("sign", *key, *tsa, "--insecure-registry",
                          _ref(olareg, timestamped, by_cli))  # fmt: skip
    assert code == 0, err
    assert ", timestamped " in out and f"by {tsa_subject}" in out, out
    code, out, err = _cli("sign", *key, "--insecure-registry", _ref(olareg, control, bare))
    assert code == 0 and "timestamped" not in out, (out, err)
    assert tsa_server.requests == 3  # one per timestamped signature, none for the control
    assert datetime.now(UTC) < signing.expires, "signing took too long for the window"

    refs = {
        "event": _ref(olareg, timestamped, by_event),
        "http": _ref(olareg, timestamped, by_http),
        "cli": _ref(olareg, timestamped, by_cli),
        "control": _ref(olareg, control, bare),
    }
    config = notation.config
    ours = ["--trust-policy", str(config / "trustpolicy.json"),
            "--trust-store", str(config / "truststore"), "--insecure-registry"]  # fmt: skip

    def verdicts() -> dict[str, NotationRun]:
        runs = {name: notation.verify(ref, verbose=True) for name, ref in refs.items()}
        for name, ref in refs.items():  # the project's verifier, same policy and stores
            code, out, err = _cli("verify", ref, *ours)
            assert (code == 0) == runs[name].passed, (name, out, err, runs[name])
        return runs

    before = verdicts()
    assert datetime.now(UTC) < signing.expires, "verification took too long for the window"
    for name, run in before.items():
        assert run.passed, (name, run)

    time.sleep(max(0.0, (signing.expires - datetime.now(UTC)).total_seconds()) + 1.5)

    after = verdicts()
    for name in ("event", "http", "cli"):
        assert after[name].passed, (name, after[name])
    assert not after["control"].passed
    assert (
        "validity period, it was expired at" in after["control"].stdout + after["control"].stderr
    ), after["control"]

    # the ledger and /api/status say when and by whom each was timestamped
    for image in (by_event, by_http):
        (row,) = [r for r in app.history(image.digest) if r["status"] == "signed"]
        assert row["timestampAuthority"] == tsa_subject
        stamped = datetime.fromisoformat(row["timestampTime"].replace("Z", "+00:00"))
        assert signing.expires - WINDOW - timedelta(minutes=1) < stamped < signing.expires
    assert stamp_json == {
        "time": app.history(by_http.digest)[0]["timestampTime"],
        "authority": tsa_subject,
    }
    code, status_body = app.http_status(_ref(olareg, timestamped, by_event))
    assert code == 200
    assert tsa_subject in str(status_body) and "timestampTime" in str(status_body)


def _signed_descriptors(app: SignerApp, repository: str, image: PushedImage) -> list[Descriptor]:
    return app.signatures(repository, image.digest, image.size, image.media_type)


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, Mapping[str, Any]]] = []

    def publish(self, outcome: str, fields: Mapping[str, Any]) -> None:
        self.published.append((outcome, dict(fields)))


def test_the_envelope_carries_the_tsa_token_over_its_signature_and_the_outcome_says_so(
    stage: Stage,
) -> None:
    olareg, tsa_server, repository_name = stage.olareg, stage.tsa, stage.repository
    signing = _short_lived_signing_key(stage.tmp_path, timedelta(days=30))
    app = stage.app(signing)
    recorder = RecordingPublisher()
    app.handlers.publisher = recorder
    image = app.pusher.push_image(repository_name, "v1")
    app.deliver(push_event(olareg.host, repository_name, image.digest, size=image.size))

    (signature,) = _signed_descriptors(app, repository_name, image)
    with app.client() as client:
        layer = signature_layer(client.fetch_manifest(repository_name, signature), "signature")
        envelope = parse_envelope(client.fetch_blob(repository_name, layer))
    token = envelope.unprotected[HEADER_TIMESTAMP_SIGNATURE]
    assert isinstance(token, bytes)
    assert token in tsa_server.replies[0]  # the TSA's token, byte for byte as it sent it
    stamp = verify_timestamp_token(token, envelope.signature, [tsa_server.root])
    stamp.check_within(envelope.chain)
    ((outcome, fields),) = recorder.published
    assert outcome == "signed"
    assert fields["timestampAuthority"] == subject_of(tsa_server.identity.cert)
    assert fields["timestampTime"] == stamp.time.strftime("%Y-%m-%dT%H:%M:%SZ")

    # delivered again: the timestamped signature counts, nothing new is signed or stamped
    app.deliver(push_event(olareg.host, repository_name, image.digest, size=image.size))
    assert len(_signed_descriptors(app, repository_name, image)) == 1
    assert app.history(image.digest)[0]["code"] == "already_signed"


def test_an_untimestamped_signature_is_signed_again_once_timestamping_is_on(
    stage: Stage,
) -> None:
    """A signature made before SIGNER_TIMESTAMP_URL was set dies with its certificate:
    it does not count as "already signed" for a timestamping signer."""
    signing = _short_lived_signing_key(stage.tmp_path, timedelta(days=30))
    image = stage.make_app_on(stage.olareg).pusher.push_image(stage.repository, "v1")
    key = ["--key", str(signing.key_path), "--cert", str(signing.chain_path)]
    code, _, err = _cli("sign", *key, "--insecure-registry", stage.ref(image))
    assert code == 0, err
    app = stage.app(signing)
    app.deliver(push_event(stage.olareg.host, stage.repository, image.digest, size=image.size))
    assert len(_signed_descriptors(app, stage.repository, image)) == 2
    assert app.history(image.digest)[0]["status"] == "signed"
    assert stage.tsa.requests == 1


# fault -> (what the attempt ends as, the TimestampError reason in the message's words)
FAULTS: dict[str, tuple[str, str]] = {
    "500": ("transient", "HTTP 500 after 3 attempts"),
    "503": ("transient", "HTTP 503 after 3 attempts"),
    "429": ("transient", "HTTP 429 after 3 attempts"),
    "reset": ("transient", "after 3 attempts"),
    "garbage": ("permanent", "timestamp"),
    "wrong_nonce": ("permanent", "nonce"),
    "no_eku": ("permanent", "must have and only have Timestamping"),
    "untrusted": ("permanent", "unknown authority"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_tsa_fault_fails_the_attempt_and_nothing_is_pushed(stage: Stage, fault: TsaFault) -> None:
    olareg, tsa_server, repository_name = stage.olareg, stage.tsa, stage.repository
    signing = _short_lived_signing_key(stage.tmp_path, timedelta(days=30))
    app = stage.app(signing)
    image = app.pusher.push_image(repository_name, "v1")
    tsa_server.inject(fault, times=100, retry_after=0)
    kind, words = FAULTS[fault]
    status, body = app.http_sign({"reference": _ref(olareg, repository_name, image)})
    (result,) = body["results"]
    assert result["status"] == "failed", body
    assert words in result["reason"], result
    code = "timestamp_unavailable" if kind == "transient" else "timestamp_invalid"
    assert result["code"] == code
    assert status == (503 if kind == "transient" else 422), (status, body)
    assert _signed_descriptors(app, repository_name, image) == []
    (row,) = app.history(image.digest)
    assert row["status"] == "failed" and row["code"] == code
    if kind == "transient":  # the event is handed back to Event Grid to deliver again
        with pytest.raises(Exception, match=words):
            app.deliver(push_event(olareg.host, repository_name, image.digest, size=image.size))
        assert _signed_descriptors(app, repository_name, image) == []


def test_a_tsa_that_is_down_fails_the_event_for_redelivery(stage: Stage) -> None:
    signing = _short_lived_signing_key(stage.tmp_path, timedelta(days=30))
    app = stage.make_app_on(
        stage.olareg,
        SIGNER_LOCAL_KEY=str(signing.key_path),
        SIGNER_LOCAL_CERT_CHAIN=str(signing.chain_path),
        SIGNER_TIMESTAMP_URL=refused_url(),
        SIGNER_TIMESTAMP_ROOT_CERT=str(stage.tsa.root_path),
    )
    image = app.pusher.push_image(stage.repository, "v1")
    with pytest.raises(TimestampUnavailableError, match="connection failed"):
        app.deliver(push_event(stage.olareg.host, stage.repository, image.digest, size=image.size))
    assert _signed_descriptors(app, stage.repository, image) == []
    (row,) = app.history(image.digest)
    assert row["status"] == "failed" and row["code"] == "timestamp_unavailable"
    assert "transient, will be retried" in row["reason"]
