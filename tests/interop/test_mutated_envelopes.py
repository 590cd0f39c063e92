"""Our verifier and the real ``notation verify`` agree on envelopes our signer made, then broke.

Each case of ``tests.interop.corpus`` signs a fresh image on olareg for real, alters the
envelope one property at a time, pushes it as the signature manifest notation would, and
asks both verifiers at level strict, over the same trust files. notation must give the
verdict the corpus recorded for it (so a mutation cannot quietly stop mattering), and ours
must give the same one, except where ``KNOWN_DIFFERENCES`` says why not.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from cryptography import x509

from signer import SIGNING_AGENT
from signer.envelope import build_envelope
from signer.mediatypes import COSE_MEDIA_TYPE, EMPTY_JSON
from signer.models import Descriptor
from signer.payload import build_payload
from signer.registry.manifests import signature_manifest
from tests.interop.corpus import CORPUS, KNOWN_DIFFERENCES, PENDING, Mutation
from tests.interop.edits import Context
from tests.interop.registries import InteropRegistry
from tests.interop.surgery import Draft
from tests.interop.verdicts import Verifiers
from tests.servers.images import OCI_MANIFEST, ImagePusher, PushedImage, sha256
from tests.servers.notation import Notation
from tests.servers.olareg import Olareg


class VerdictsDisagreeError(AssertionError):
    """The two verifiers gave different verdicts (what a PENDING xfail expects)."""


def _param(mutation: Mutation) -> object:
    marks = []
    if mutation.name in PENDING:
        marks.append(
            pytest.mark.xfail(
                strict=True, raises=VerdictsDisagreeError, reason=PENDING[mutation.name]
            )
        )
    return pytest.param(mutation, id=mutation.name, marks=marks)


def _mutated(
    mutation: Mutation, subject: PushedImage
) -> tuple[bytes, tuple[x509.Certificate, ...]]:
    """The mutated envelope, and the chain it was signed with (its root is to be trusted)."""
    signer, chain = mutation.signer_and_chain()
    descriptor = Descriptor(subject.media_type, subject.digest, subject.size)
    signing_time = datetime.now(UTC).replace(microsecond=0)
    envelope = build_envelope(
        build_payload(descriptor),
        signer,
        signing_time=signing_time,
        signing_agent=SIGNING_AGENT,
    )
    draft = Draft.parse(envelope)
    mutation.edit(draft, Context(chain, descriptor.to_json(), signing_time))
    if mutation.resign:
        draft.resign(signer)
    return draft.encode(), chain


def _push_signature(
    pusher: ImagePusher, repository: str, subject: PushedImage, blob: bytes
) -> None:
    """The signature manifest notation pushes, with the mutated envelope as its layer."""
    pusher.push_blob(repository, EMPTY_JSON)
    layer = Descriptor(COSE_MEDIA_TYPE, pusher.push_blob(repository, blob), len(blob))
    manifest = signature_manifest(
        Descriptor(subject.media_type, subject.digest, subject.size), layer, {}
    )
    pusher.push_manifest(repository, sha256(manifest), manifest, OCI_MANIFEST)


@pytest.mark.parametrize("mutation", [_param(m) for m in CORPUS])
def test_verdicts_agree(mutation: Mutation, olareg: Olareg, notation: Notation) -> None:
    registry = InteropRegistry("olareg", olareg)
    pusher = registry.pusher()
    repository = f"mutated/{mutation.name}-{uuid.uuid4().hex[:8]}"
    subject = pusher.push_image(repository, "v1")
    blob, chain = _mutated(mutation, subject)
    _push_signature(pusher, repository, subject, blob)

    verifiers = Verifiers(notation, registry)
    verifiers.trust(repository, chain[-1:], chain[0], store_type=mutation.store_type)
    verdict = verifiers.verify(repository, subject.digest, mutation.user_metadata)

    notation_verdict = "pass" if verdict.notation.passed else "fail"
    assert notation_verdict == mutation.notation, f"notation's verdict changed: {verdict}"
    if mutation.name in KNOWN_DIFFERENCES:
        assert verdict.ours.verified != verdict.notation.passed, (
            f"documented difference no longer holds ({KNOWN_DIFFERENCES[mutation.name]}): {verdict}"
        )
    elif not verdict.agree:
        raise VerdictsDisagreeError(str(verdict))


def test_the_corpus_has_controls_and_both_kinds_of_failure() -> None:
    """The corpus means something: controls pass, most cases fail, both kinds are re-signed."""
    verdicts = {m.name: m.notation for m in CORPUS}
    assert verdicts["control"] == verdicts["control-resigned"] == "pass"
    assert sum(v == "fail" for v in verdicts.values()) > len(CORPUS) / 2
    assert {m.resign for m in CORPUS if m.notation == "fail"} == {True, False}
    assert set(KNOWN_DIFFERENCES) | set(PENDING) <= set(verdicts)
