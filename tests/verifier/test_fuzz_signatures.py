"""Properties: whatever a pusher puts in a signature, verify and inspect give a verdict.

Every input here carries a valid signature by the leaf key in its own chain, so the
parser, the certificate rules and the payload reader are reached, not just the first
integrity check. The contract: parsing raises only EnvelopeError, ``verify_signature``
returns a verdict (never an internal error), ``inspect_signature`` returns a summary,
and a good signature after any number of hostile ones is still found. A failing example
is printed with its draws and the envelope (base64) so it can be replayed.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, note
from hypothesis import strategies as st

from signer.envelope import build_envelope
from signer.errors import EnvelopeError
from signer.mediatypes import COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, OCI_MANIFEST
from signer.models import Descriptor
from signer.payload import build_payload
from signer.signers.local import LocalSigner
from signer.verifier import SignatureBlob, Verifier, inspect_signature, parse
from tests.fuzzing import examples
from tests.verifier import hostile, pki

REF = "registry.example/app@sha256:" + "ab" * 32
SUBJECT = Descriptor(OCI_MANIFEST, "sha256:" + "ab" * 32, 391)
KEY = hostile.signing_key("p256")
LEAF = pki.certificate(KEY, pki.name("Fuzz Leaf"))
LEAF_DER = hostile.der(LEAF)
TBS_LENGTH = len(hostile.split_certificate(LEAF_DER)[0])
PAYLOAD = build_payload(SUBJECT, {"env": "prod"})
GOOD = build_envelope(PAYLOAD, LocalSigner(KEY, [LEAF]), signing_time=hostile.SIGNING_TIME)
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Verifier:
    store = tmp_path_factory.mktemp("store")
    pki.write_store(store, "test-root", [LEAF])
    return Verifier(pki.policy(identities=("*",)), store, now=lambda: pki.NOW)


def check(verifier: Verifier, blob: bytes, media_type: str) -> None:
    """The contract every hostile signature is held to."""
    note(f"{media_type} envelope (base64): {base64.b64encode(blob).decode()}")
    with contextlib.suppress(EnvelopeError):
        parse(media_type, blob)
    outcome = verifier.verify_signature(REF, SUBJECT, blob, media_type)
    assert not outcome.internal_error, outcome.error
    assert outcome.status in ("verified", "failed")
    summary = inspect_signature(blob, media_type)
    assert summary.media_type == media_type


# --- certificates: any edit of the TBSCertificate, signed again ---------------------------

EDIT = st.tuples(st.integers(0, TBS_LENGTH - 1), st.integers(1, 255))


def _edited_leaf(edits: list[tuple[int, int]]) -> bytes:
    tbs, _ = hostile.split_certificate(LEAF_DER)
    edited = bytearray(tbs)
    for position, xor in edits:
        edited[position] ^= xor
    return hostile.resign_tbs(bytes(edited), LEAF_DER, KEY)


@examples(150, **SETTINGS)
@given(st.lists(EDIT, min_size=1, max_size=3), st.sampled_from([COSE_MEDIA_TYPE, JWS_MEDIA_TYPE]))
def test_any_edited_certificate(
    verifier: Verifier, edits: list[tuple[int, int]], media_type: str
) -> None:
    chain = [_edited_leaf(edits)]
    make = hostile.cose if media_type == COSE_MEDIA_TYPE else hostile.jws
    check(verifier, make(PAYLOAD, chain, KEY), media_type)


# --- payloads: any JSON, any bytes --------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=12,
)
TARGET_KEYS = st.sampled_from(
    ["mediaType", "digest", "size", "annotations", "urls", "data", "platform", "artifactType", "x"]
)


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "target"]), label="kind")
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    target: dict[str, Any] = SUBJECT.to_json()
    for key in draw(st.lists(TARGET_KEYS, max_size=3), label="keys"):
        target[key] = draw(JSON, label=key)
    return json.dumps({"targetArtifact": target}).encode()


@examples(200, **SETTINGS)
@given(payloads(), st.sampled_from([COSE_MEDIA_TYPE, JWS_MEDIA_TYPE]))
def test_any_payload(verifier: Verifier, payload: bytes, media_type: str) -> None:
    make = hostile.cose if media_type == COSE_MEDIA_TYPE else hostile.jws
    check(verifier, make(payload, [LEAF_DER], KEY), media_type)


# --- headers: any value under any label that matters -----------------------------------

CBOR = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.binary(max_size=8)
    | st.text(max_size=8)
    | st.builds(lambda n: cbor2.CBORTag(1, n), st.integers(-(2**65), 2**65) | st.floats()),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.integers(-5, 40) | st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
COSE_LABELS = st.sampled_from(
    [
        1,
        2,
        3,
        "io.cncf.notary.signingScheme",
        "io.cncf.notary.signingTime",
        "io.cncf.notary.expiry",
        "io.cncf.notary.authenticSigningTime",
        "io.cncf.notary.verificationPlugin",
        "x",
    ]
)


@examples(200, **SETTINGS)
@given(st.dictionaries(COSE_LABELS, CBOR, min_size=1, max_size=3))
def test_any_cose_protected_header(verifier: Verifier, changes: dict[Any, Any]) -> None:
    try:
        blob = hostile.cose(PAYLOAD, [LEAF_DER], KEY, protected=changes)
    except (TypeError, ValueError, OverflowError):  # cbor2 cannot write this value
        return
    check(verifier, blob, COSE_MEDIA_TYPE)


JWS_LABELS = st.sampled_from(
    [
        "alg",
        "crit",
        "cty",
        "io.cncf.notary.signingScheme",
        "io.cncf.notary.signingTime",
        "io.cncf.notary.expiry",
        "io.cncf.notary.authenticSigningTime",
        "x",
    ]
)
TIMES = st.from_regex(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})",
    fullmatch=True,
)


@examples(200, **SETTINGS)
@given(st.dictionaries(JWS_LABELS, JSON | TIMES, min_size=1, max_size=3))
def test_any_jws_protected_header(verifier: Verifier, changes: dict[str, Any]) -> None:
    check(verifier, hostile.jws(PAYLOAD, [LEAF_DER], KEY, protected=changes), JWS_MEDIA_TYPE)


# --- raw bytes around a good envelope ---------------------------------------------------


@examples(200, **SETTINGS)
@given(st.data())
def test_any_byte_edit_of_a_good_envelope(verifier: Verifier, data: st.DataObject) -> None:
    blob = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        position = data.draw(st.integers(0, len(blob) - 1), label="position")
        blob[position] ^= data.draw(st.integers(1, 255), label="xor")
    check(verifier, bytes(blob), COSE_MEDIA_TYPE)


# --- an artifact: a good signature behind any hostile ones ------------------------------


@examples(50, **SETTINGS)
@given(st.lists(payloads(), max_size=4), st.data())
def test_a_good_signature_is_found_behind_any_others(
    verifier: Verifier, hostile_payloads: list[bytes], data: st.DataObject
) -> None:
    blobs = [
        SignatureBlob(hostile.cose(p, [LEAF_DER], KEY), COSE_MEDIA_TYPE) for p in hostile_payloads
    ]
    blobs.insert(
        data.draw(st.integers(0, len(blobs)), label="good at"), SignatureBlob(GOOD, COSE_MEDIA_TYPE)
    )
    result = verifier.verify_signatures(REF, SUBJECT, blobs)
    assert result.status == "verified", result.error
    assert not any(o.internal_error for o in result.outcomes)


def test_the_good_envelope_verifies(verifier: Verifier) -> None:
    """The properties start from a signature that passes: a failure is the edit's doing."""
    assert verifier.verify_signature(REF, SUBJECT, GOOD, COSE_MEDIA_TYPE).verified
    jws = hostile.jws(PAYLOAD, [LEAF_DER], KEY)
    assert verifier.verify_signature(REF, SUBJECT, jws, JWS_MEDIA_TYPE).verified
