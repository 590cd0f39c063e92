"""Every signature kind, through every entry point, on both registries: ``notation verify`` passes.

The subject is pushed by an independent pusher, signed through one of the three ways users
sign (the CLI in-process, the app's ``POST /api/sign``, the app's ImagePushed handler), and
then verified by the real notation v1.3.2 at level strict with the leaf's subject as the
only trusted identity, and by our verifier over the same trust files. Both must pass, and
the envelope must be the kind that was asked for (algorithm, chain, expiry, metadata).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.sample_events import push_event
from signer import cli
from tests.interop.kinds import KINDS, EntryPoint, Kind, SigningKey, local_key, vault_key
from tests.interop.registries import InteropRegistry
from tests.interop.verdicts import Verifiers
from tests.plugins.app import SignerApp
from tests.servers.images import OCI_INDEX, PushedImage

CASES = [
    pytest.param(kind, entry, id=f"{kind.name}-{entry}")
    for kind in KINDS
    for entry in kind.entry_points
]
TAG = "v1"


def _signing_key(kind: Kind, request: pytest.FixtureRequest, workdir: Path) -> SigningKey:
    if kind.vault is None:
        return local_key(kind)
    return vault_key(kind, request.getfixturevalue("local_vault"), workdir)


def _sign_with_cli(registry: InteropRegistry, repository: str, key: SigningKey, kind: Kind) -> None:
    argv = ["sign", f"{registry.host}/{repository}:{TAG}", *key.cli_flags, "--insecure-registry"]
    if kind.expiry is not None:
        argv += ["--expiry", f"{int(kind.expiry.total_seconds())}s"]
    for name, value in kind.user_metadata.items():
        argv += ["--user-metadata", f"{name}={value}"]
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, out, err)
    assert code == 0, (
        f"python -m signer {' '.join(argv)} -> {code}\n{out.getvalue()}{err.getvalue()}"
    )


def _event_app(
    make_app_on: Callable[..., SignerApp], registry: InteropRegistry, key: SigningKey, kind: Kind
) -> SignerApp:
    """An event carries no options: expiry and user metadata come from the app settings."""
    settings = {}
    if kind.expiry is not None:
        settings["SIGNER_EXPIRY"] = f"{int(kind.expiry.total_seconds())}s"
    if kind.user_metadata:
        settings["SIGNER_USER_METADATA"] = ",".join(
            f"{k}={v}" for k, v in kind.user_metadata.items()
        )
    return _app(make_app_on, registry, key, kind, **settings)


def _app(
    make_app_on: Callable[..., SignerApp],
    registry: InteropRegistry,
    key: SigningKey,
    kind: Kind,
    **settings: str,
) -> SignerApp:
    if kind.index_children:
        settings["SIGNER_SIGN_INDEX_CHILDREN"] = "true"
    return make_app_on(registry.process, **key.settings, **settings)


def _sign_with_http(app: SignerApp, repository: str, kind: Kind) -> None:
    body: dict[str, object] = {"reference": f"{app.registry_host}/{repository}:{TAG}"}
    if kind.expiry is not None:
        body["expiry"] = f"{int(kind.expiry.total_seconds())}s"
    if kind.user_metadata:
        body["userMetadata"] = dict(kind.user_metadata)
    status, answer = app.http_sign(body)
    assert status == 200, answer
    assert [r["status"] for r in answer["results"]] == ["signed"] * len(answer["results"]), answer


def _sign_with_event(app: SignerApp, repository: str, subject: PushedImage) -> None:
    event = push_event(
        app.registry_host,
        repository,
        subject.digest,
        tag=TAG,
        media_type=subject.media_type,
        size=subject.size,
    )
    app.deliver(event)
    newest = app.history(subject.digest)[0]
    assert newest["status"] == "signed", newest


@pytest.mark.parametrize(("kind", "entry"), CASES)
def test_signature_passes_notation_verify_strict(
    *,
    kind: Kind,
    entry: EntryPoint,
    interop_registry: InteropRegistry,
    verifiers: Verifiers,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    key = _signing_key(kind, request, tmp_path)
    repository = f"interop/{kind.name.lower()}-{entry}-{uuid.uuid4().hex[:8]}"
    pusher = interop_registry.pusher()
    if kind.index_children:
        subject, children = pusher.push_index(repository, TAG)
    else:
        subject, children = pusher.push_image(repository, TAG), []

    if entry == "cli":
        _sign_with_cli(interop_registry, repository, key, kind)
    elif entry == "http":
        app = _app(request.getfixturevalue("make_app_on"), interop_registry, key, kind)
        _sign_with_http(app, repository, kind)
    else:
        app = _event_app(request.getfixturevalue("make_app_on"), interop_registry, key, kind)
        _sign_with_event(app, repository, subject)

    chain = kind.chain
    verifiers.trust(repository, chain[-1:], chain[0])
    for signed in [subject, *children]:
        # one signature, kept where this registry keeps referrers (API or tag schema)
        assert len(interop_registry.signature_digests(repository, signed.digest)) == 1
        verdict = verifiers.verify(repository, signed.digest)
        assert verdict.notation.passed, str(verdict)
        assert verdict.ours.verified, str(verdict)
        accepted = verdict.ours.accepted
        assert accepted is not None and accepted.envelope is not None
        envelope = accepted.envelope
        assert envelope.algorithm.name == kind.algorithm
        assert envelope.chain == chain
        if kind.expiry is None:
            assert envelope.expiry is None
        else:
            assert envelope.expiry is not None
            assert envelope.expiry - envelope.signing_time == kind.expiry
        assert dict(accepted.user_metadata) == dict(kind.user_metadata)
    if kind.index_children:
        assert subject.media_type == OCI_INDEX and len(children) == 2

    if kind.user_metadata:
        _user_metadata_is_checked(verifiers, repository, subject.digest, kind)


def _user_metadata_is_checked(
    verifiers: Verifiers, repository: str, digest: str, kind: Kind
) -> None:
    """``notation verify --user-metadata``: a pair that is in the payload passes, another fails."""
    name, value = next(iter(kind.user_metadata.items()))
    for asked, passes in (
        ({name: value}, True),
        (dict(kind.user_metadata), True),
        ({name: "x"}, False),
    ):
        verdict = verifiers.verify(repository, digest, user_metadata=asked)
        assert (verdict.notation.passed, verdict.ours.verified) == (passes, passes), str(verdict)
