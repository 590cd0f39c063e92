"""Take a real COSE_Sign1 envelope apart and put it back together with one thing changed.

A ``Draft`` holds every field as encoded CBOR, so a mutation can write what no encoder
would (duplicate labels, indefinite lengths, non-minimal integers, an untagged object)
and the rest of the envelope stays byte for byte as our signer made it:
``Draft.parse(envelope).encode() == envelope``. ``resign`` makes the signature again
over the altered protected header and payload, for mutations whose point is the meaning
of a field rather than integrity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import cbor2

from signer.envelope import sig_structure
from signer.signers.base import SigningKey

Where = Literal["protected", "unprotected"]
Pairs = list[tuple[bytes, bytes]]  # (encoded label, encoded value), in order, repeats allowed


def encode(value: Any) -> bytes:
    """Deterministic CBOR; a datetime becomes tag 1 around an integer epoch, as notation writes."""
    if isinstance(value, datetime):
        return cbor2.dumps(cbor2.CBORTag(1, int(value.timestamp())))
    return cbor2.dumps(value)


def head(major: int, length: int) -> bytes:
    """A CBOR head in its shortest form."""
    if length < 24:
        return bytes([major << 5 | length])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | info]) + length.to_bytes(size, "big")
    raise ValueError("too long")


def map_bytes(pairs: Iterable[tuple[bytes, bytes]], *, indefinite: bool = False) -> bytes:
    pairs = list(pairs)
    body = b"".join(k + v for k, v in pairs)
    return b"\xbf" + body + b"\xff" if indefinite else head(5, len(pairs)) + body


def bstr(data: bytes, *, chunks: int = 0) -> bytes:
    """A byte string; with ``chunks`` it is written as that many indefinite-length pieces."""
    if not chunks:
        return head(2, len(data)) + data
    step = max(1, -(-len(data) // chunks))
    pieces = [data[i : i + step] for i in range(0, len(data), step)]
    return b"\x5f" + b"".join(head(2, len(p)) + p for p in pieces) + b"\xff"


def _pairs(header: dict[Any, Any]) -> Pairs:
    return [(encode(label), encode(value)) for label, value in header.items()]


@dataclass
class Draft:
    protected: Pairs
    unprotected: Pairs
    payload: bytes
    signature: bytes
    #: verbatim protected header bytes, for mutations that write the map themselves
    protected_bytes: bytes | None = None
    tagged: bool = True
    array_indefinite: bool = False
    unprotected_indefinite: bool = False
    protected_chunks: int = 0
    payload_chunks: int = 0
    trailing: bytes = b""

    @classmethod
    def parse(cls, envelope: bytes) -> Draft:
        outer = cbor2.loads(envelope)
        assert isinstance(outer, cbor2.CBORTag) and outer.tag == 18
        protected, unprotected, payload, signature = outer.value
        draft = cls(_pairs(cbor2.loads(protected)), _pairs(unprotected), payload, signature)
        assert draft.encode() == envelope, "the draft must re-encode the envelope exactly"
        return draft

    # --- headers --------------------------------------------------------------------------

    def _header(self, where: Where) -> Pairs:
        return self.protected if where == "protected" else self.unprotected

    def get(self, label: Any, where: Where = "protected") -> Any:
        key = encode(label)
        values = [v for k, v in self._header(where) if k == key]
        return cbor2.loads(values[0]) if values else None

    def set(self, label: Any, value: Any, where: Where = "protected") -> None:
        """Replace (or add) the label's value; ``set_raw`` takes pre-encoded bytes."""
        self.set_raw(label, encode(value), where)

    def set_raw(self, label: Any, value: bytes, where: Where = "protected") -> None:
        pairs, key = self._header(where), encode(label)
        for i, (k, _) in enumerate(pairs):
            if k == key:
                pairs[i] = (k, value)
                return
        pairs.append((key, value))
        pairs.sort(key=lambda kv: kv[0])  # deterministic order, as go-cose writes it

    def remove(self, label: Any, where: Where = "protected") -> None:
        key = encode(label)
        self._header(where)[:] = [(k, v) for k, v in self._header(where) if k != key]

    # --- bytes ----------------------------------------------------------------------------

    def protected_header(self) -> bytes:
        return (
            self.protected_bytes if self.protected_bytes is not None else map_bytes(self.protected)
        )

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected_header(), self.payload)

    def resign(self, key: SigningKey) -> None:
        self.signature = key.sign(self.to_be_signed())

    def encode(self) -> bytes:
        items = (
            bstr(self.protected_header(), chunks=self.protected_chunks)
            + map_bytes(self.unprotected, indefinite=self.unprotected_indefinite)
            + bstr(self.payload, chunks=self.payload_chunks)
            + bstr(self.signature)
        )
        array = b"\x9f" + items + b"\xff" if self.array_indefinite else b"\x84" + items
        return (b"\xd2" if self.tagged else b"") + array + self.trailing
