"""The alterations the corpus makes to a signed envelope, as small composable edits.

An ``Edit`` changes a ``Draft`` in place; it may use the ``Context``: the signer's chain,
the subject's descriptor (what the payload names) and the real signing time. Whether the
signature is made again afterwards is the mutation's business, not the edit's.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import utils

from signer.envelope import CRIT, X5CHAIN
from signer.mediatypes import (
    HEADER_AUTHENTIC_SIGNING_TIME,
    HEADER_EXPIRY,
    HEADER_SIGNING_SCHEME,
    HEADER_SIGNING_TIME,
    SCHEME_X509_SIGNING_AUTHORITY,
)
from signer.payload import go_json
from tests.interop.surgery import Draft, Where, encode, map_bytes


@dataclass(frozen=True)
class Context:
    chain: tuple[x509.Certificate, ...]
    target: Mapping[str, Any]  # the subject's descriptor, as the payload names it
    signing_time: datetime


Edit = Callable[[Draft, Context], None]


def nothing(draft: Draft, ctx: Context) -> None:
    del draft, ctx


def protected(label: Any, value: Any) -> Edit:
    def edit(draft: Draft, ctx: Context) -> None:
        draft.set(label, value)

    return edit


def protected_raw(label: Any, value: bytes) -> Edit:
    def edit(draft: Draft, ctx: Context) -> None:
        draft.set_raw(label, value)

    return edit


def without(label: Any, where: Where = "protected") -> Edit:
    def edit(draft: Draft, ctx: Context) -> None:
        draft.remove(label, where)

    return edit


def crit(*labels: Any) -> Edit:
    return protected(CRIT, list(labels))


def also_critical(label: Any, value: Any) -> Edit:
    """Add a protected header and list it in crit."""

    def edit(draft: Draft, ctx: Context) -> None:
        draft.set(label, value)
        draft.set(CRIT, [*draft.get(CRIT), label])

    return edit


def signing_time_raw(value: bytes) -> Edit:
    return protected_raw(HEADER_SIGNING_TIME, value)


def times(signing: timedelta, expiry: timedelta | None, *, critical: bool = True) -> Edit:
    """Signing time and expiry relative to the real signing time (expiry listed in crit)."""

    def edit(draft: Draft, ctx: Context) -> None:
        draft.set(HEADER_SIGNING_TIME, ctx.signing_time + signing)
        if expiry is not None:
            draft.set(HEADER_EXPIRY, ctx.signing_time + expiry)
            if critical:
                draft.set(CRIT, [*draft.get(CRIT), HEADER_EXPIRY])

    return edit


def epoch_float(seconds: float) -> bytes:
    """Tag 1 around a float64 (RFC 8949 allows it; notation writes integers)."""
    return b"\xc1\xfb" + struct.pack(">d", seconds)


def x5chain_protected(*, keep_unprotected: bool) -> Edit:
    """x5chain in the protected header (the COSE spec allows it there, optionally)."""

    def edit(draft: Draft, ctx: Context) -> None:
        if not keep_unprotected:
            draft.remove(X5CHAIN, "unprotected")
        draft.set(X5CHAIN, [der(c) for c in ctx.chain])

    return edit


def expiry_raw(value: bytes) -> Edit:
    def edit(draft: Draft, ctx: Context) -> None:
        draft.set_raw(HEADER_EXPIRY, value)
        draft.set(CRIT, [*draft.get(CRIT), HEADER_EXPIRY])

    return edit


def signing_authority(*, authentic_time: bool, at: datetime | None = None) -> Edit:
    def edit(draft: Draft, ctx: Context) -> None:
        draft.set(HEADER_SIGNING_SCHEME, SCHEME_X509_SIGNING_AUTHORITY)
        if authentic_time:
            draft.remove(HEADER_SIGNING_TIME)
            draft.set(HEADER_AUTHENTIC_SIGNING_TIME, at or ctx.signing_time)
            draft.set(CRIT, [*draft.get(CRIT), HEADER_AUTHENTIC_SIGNING_TIME])

    return edit


def duplicate_protected(label: Any, *, key: bytes | None = None, value: Any = None) -> Edit:
    """The label twice in the protected map (``key``: another encoding of the same label)."""

    def edit(draft: Draft, ctx: Context) -> None:
        pairs = list(draft.protected)
        original = next(v for k, v in pairs if k == encode(label))
        pairs.append((key or encode(label), original if value is None else encode(value)))
        draft.protected_bytes = map_bytes(pairs)

    return edit


def protected_written(*, indefinite: bool = False, reverse: bool = False) -> Edit:
    def edit(draft: Draft, ctx: Context) -> None:
        pairs = list(reversed(draft.protected)) if reverse else list(draft.protected)
        draft.protected_bytes = map_bytes(pairs, indefinite=indefinite)

    return edit


def chain(make: Callable[[Context], list[bytes]]) -> Edit:
    def edit(draft: Draft, ctx: Context) -> None:
        draft.set(X5CHAIN, make(ctx), "unprotected")

    return edit


def unprotected(label: Any, value: Any) -> Edit:
    def edit(draft: Draft, ctx: Context) -> None:
        draft.set(label, value, "unprotected")

    return edit


def layout(**flags: Any) -> Edit:
    """Change how the envelope is written (tag, indefinite lengths, trailing bytes)."""

    def edit(draft: Draft, ctx: Context) -> None:
        for name, value in flags.items():
            setattr(draft, name, value)

    return edit


def payload(make: Callable[[Mapping[str, Any]], bytes]) -> Edit:
    def edit(draft: Draft, ctx: Context) -> None:
        draft.payload = make(ctx.target)

    return edit


def signature(change: Callable[[bytes, Context], bytes]) -> Edit:
    def edit(draft: Draft, ctx: Context) -> None:
        draft.signature = change(draft.signature, ctx)

    return edit


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def ecdsa_der(raw: bytes, ctx: Context) -> bytes:
    """Raw r||s as a DER ECDSA-Sig-Value (what COSE forbids)."""
    half = len(raw) // 2
    return utils.encode_dss_signature(
        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    )


def flip_a_bit(raw: bytes, ctx: Context) -> bytes:
    return raw[:10] + bytes([raw[10] ^ 0x01]) + raw[11:]


def target_with(**changes: Any) -> Callable[[Mapping[str, Any]], bytes]:
    def make(target: Mapping[str, Any]) -> bytes:
        return go_json({"targetArtifact": {**target, **changes}}).encode()

    return make


def payload_doc(target: Mapping[str, Any]) -> dict[str, Any]:
    return {"targetArtifact": dict(target)}


def pretty(target: Mapping[str, Any]) -> bytes:
    return json.dumps(payload_doc(target), indent=2).encode()
