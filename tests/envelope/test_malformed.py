"""Malformed COSE envelopes fail with EnvelopeError, and only with EnvelopeError."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from signer.envelope import parse_envelope
from signer.errors import EnvelopeError
from tests.fuzzing import examples
from tests.verifier.vectors import case

GOOD = case("rsa2048-selfsigned-cose").envelope


def _parts() -> list[Any]:
    outer = cbor2.loads(GOOD)
    assert isinstance(outer, cbor2.CBORTag)
    return list(outer.value)


def _protected() -> dict[Any, Any]:
    value = cbor2.loads(_parts()[0])
    assert isinstance(value, dict)
    return value


def _dumps(value: Any) -> bytes:
    # cbor2 decodes tag 1 to a datetime; write it back as tag 1, not as tag 0 text
    return cbor2.dumps(value, datetime_as_timestamp=True)


def _with(index: int, value: Any) -> bytes:
    parts = _parts()
    parts[index] = value
    return _dumps(cbor2.CBORTag(18, parts))


def _with_protected(**changes: Any) -> bytes:
    """Re-encode the protected header with changes (string labels; None deletes)."""
    protected = _protected()
    for label, value in changes.items():
        key: Any = int(label[1:]) if label.startswith("l") else label
        if value is None:
            protected.pop(key, None)
        else:
            protected[key] = value
    return _with(0, _dumps(protected))


def test_the_base_envelope_parses() -> None:
    assert parse_envelope(GOOD).algorithm.name == "PS256"
    # the helpers re-encode the vector byte for byte, so each mutation changes one thing
    assert _with(0, _dumps(_protected())) == GOOD


# Raw byte surgery on the vector: the envelope starts d2 84 (tag 18, array of 4),
# then the protected bstr.
MUTATIONS: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty": (lambda: b"", "tag 18 is missing"),
    "truncated-1": (lambda: GOOD[:1], "truncated"),
    "truncated-half": (lambda: GOOD[: len(GOOD) // 2], "truncated"),
    "truncated-last-byte": (lambda: GOOD[:-1], "truncated"),
    "trailing-byte": (lambda: GOOD + b"\x00", "trailing bytes"),
    "untagged": (lambda: GOOD[1:], "tag 18 is missing"),
    "extra-outer-tag": (lambda: b"\xd9\xd9\xf7" + GOOD, "tag 18 is missing"),  # tag 55799
    "tag-inside": (lambda: _with(2, cbor2.CBORTag(24, _parts()[2])), "tag 24 is not allowed"),
    "indefinite-array": (lambda: b"\xd2\x9f" + GOOD[2:] + b"\xff", "indefinite-length"),
    "three-items": (lambda: _dumps(cbor2.CBORTag(18, _parts()[:3])), "array of four items"),
    "protected-as-map": (lambda: _with(0, _protected()), "tag 1 is not allowed"),
    "protected-empty": (lambda: _with(0, b""), "protected header must be"),
    "unprotected-as-list": (lambda: _with(1, []), "unprotected header must be a map"),
    "payload-as-text": (lambda: _with(2, "payload"), "payload must be embedded"),
    "payload-detached": (lambda: _with(2, None), "payload must be embedded"),
    "signature-as-int": (lambda: _with(3, 7), "signature must be"),
    "signature-empty": (lambda: _with(3, b""), "signature must be"),
    "x5chain-single-bstr": (lambda: _with(1, {33: _parts()[1][33][0]}), "certificate chain"),
    "x5chain-missing": (lambda: _with(1, {}), "certificate chain is not present"),
    "x5chain-not-der": (lambda: _with(1, {33: [b"not a certificate"]}), "invalid certificate"),
    "alg-as-string": (lambda: _with_protected(l1="PS256"), "signature algorithm"),
    "alg-unknown": (lambda: _with_protected(l1=-8), "signature algorithm"),
    "alg-missing": (lambda: _with_protected(l1=None), "signature algorithm"),
    "crit-not-array": (
        lambda: _with_protected(l2="io.cncf.notary.signingScheme"),
        "non-empty crit array",
    ),
    "crit-empty": (lambda: _with_protected(l2=[]), "non-empty crit array"),
    "cty-missing": (lambda: _with_protected(l3=None), "payload content type None"),
    "scheme-unknown": (
        lambda: _with_protected(**{"io.cncf.notary.signingScheme": "x509"}),
        "unsupported signing scheme",
    ),
    "signingtime-string": (
        lambda: _with_protected(**{"io.cncf.notary.signingTime": "2026-11-22T04:16:40Z"}),
        "expected a CBOR tag 1 epoch time",
    ),
    "signingtime-not-a-number": (
        lambda: _with_protected(**{"io.cncf.notary.signingTime": cbor2.CBORTag(1, "now")}),
        "tag 1 must hold a number",
    ),
    "signingtime-nan": (
        lambda: _with_protected(**{"io.cncf.notary.signingTime": cbor2.CBORTag(1, float("nan"))}),
        "is not a time",
    ),
    "signingtime-beyond-int64": (
        lambda: _with_protected(**{"io.cncf.notary.signingTime": cbor2.CBORTag(1, 2**64 - 1)}),
        "out of range",
    ),
    "signingtime-go-zero": (
        lambda: _with_protected(**{"io.cncf.notary.signingTime": cbor2.CBORTag(1, -62135596800)}),
        "read as no time at all",
    ),
    "signingtime-missing": (
        lambda: _with_protected(**{"io.cncf.notary.signingTime": None}),
        "missing io.cncf.notary.signingTime",
    ),
    # Python's True == 1: a bool label must not pass for alg
    "bool-label": (
        lambda: _with(0, _dumps({True: -37, **{k: v for k, v in _protected().items() if k != 1}})),
        "not an integer or a string",
    ),
    "float-label": (
        lambda: _with(0, _dumps({1.0: -37, **{k: v for k, v in _protected().items() if k != 1}})),
        "not an integer or a string",
    ),
    "invalid-utf8": (lambda: _with(0, b"\xa1\x03\x62\xff\xfe"), "not valid UTF-8"),
    "tag1-with-text": (
        lambda: _with(0, b"\xa1" + cbor2.dumps("x") + b"\xc1\x61a"),
        "tag 1 must hold a number",
    ),
}


@pytest.mark.parametrize(("mutate", "reason"), MUTATIONS.values(), ids=MUTATIONS.keys())
def test_malformed_envelope_is_an_envelope_error(mutate: Callable[[], bytes], reason: str) -> None:
    with pytest.raises(EnvelopeError, match=re.escape(reason)):
        parse_envelope(mutate())


def _duplicate_key_envelope(where: int) -> bytes:
    """A map with the same key twice, spliced in by hand (cbor2 cannot write one)."""
    parts = _parts()
    if where == 1:  # unprotected: {33: chain, 33: chain}
        chain = cbor2.dumps(parts[1][33])
        unprotected = b"\xa2\x18\x21" + chain + b"\x18\x21" + chain
        return (
            b"\xd2\x84"
            + cbor2.dumps(parts[0])
            + unprotected
            + cbor2.dumps(parts[2])
            + cbor2.dumps(parts[3])
        )
    protected = bytes(parts[0])
    assert protected[0] == 0xA5  # map of 5
    dup = b"\xa6\x03" + cbor2.dumps("application/json") + protected[1:]
    return _with(0, dup)


@pytest.mark.parametrize("where", [0, 1], ids=["protected", "unprotected"])
def test_duplicate_map_keys_are_rejected(where: int) -> None:
    blob = _duplicate_key_envelope(where)
    with pytest.raises(EnvelopeError, match="duplicate map key"):
        parse_envelope(blob)


def _parse_or_envelope_error(blob: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        parse_envelope(blob)


@examples(400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_only_raise_envelope_error(blob: bytes) -> None:
    _parse_or_envelope_error(blob)


@examples(400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_mutated_envelopes_only_raise_envelope_error(data: st.DataObject) -> None:
    blob = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, len(blob) - 1))
        if kind == "flip":
            blob[pos] ^= data.draw(st.integers(1, 255))
        elif kind == "insert":
            blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and len(blob) > 1:
            del blob[pos]
        else:
            del blob[pos:]
        if not blob:
            break
    _parse_or_envelope_error(bytes(blob))


@examples(300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.binary(max_size=8) | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.integers(-40, 40) | st.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_wrongly_typed_protected_headers_only_raise_envelope_error(value: Any) -> None:
    protected = _protected()
    protected[data_label(value)] = value
    _parse_or_envelope_error(_with(0, _dumps(protected)))


def data_label(value: Any) -> Any:
    """Spread the generated values over the labels that matter."""
    labels = [1, 2, 3, "io.cncf.notary.signingTime", "io.cncf.notary.expiry", 33]
    return labels[len(repr(value)) % len(labels)]
