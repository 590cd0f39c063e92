"""A well-formedness scan for CBOR that cbor2 decodes too leniently for a verifier.

notation-core-go decodes envelopes with go-cose's strict decoder: duplicate map keys,
indefinite-length items and unexpected tags are errors. cbor2 silently keeps the
last duplicate and accepts indefinite lengths, so we walk the raw bytes first.

The protected header is also decoded here (``decode_header``) rather than by cbor2,
which turns tag 1 into a datetime and fails on any epoch outside years 1-9999: Go's
time.Time holds every int64 second and fractions, and notation accepts them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from signer.errors import EnvelopeError

_MAX_DEPTH = 16


class _Scanner:
    def __init__(self, data: bytes, allowed_tags: frozenset[int]) -> None:
        self.data = data
        self.pos = 0
        self.allowed_tags = allowed_tags

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise EnvelopeError("CBOR: truncated item")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def _skip(self, n: int) -> None:
        """Step over a string's content without copying it (payloads run to 32 MiB)."""
        if self.pos + n > len(self.data):
            raise EnvelopeError("CBOR: truncated item")
        self.pos += n

    def _argument(self, info: int) -> int:
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(self._take(1 << (info - 24)), "big")
        if info == 31:
            raise EnvelopeError("CBOR: indefinite-length items are not allowed")
        raise EnvelopeError("CBOR: reserved additional information value")

    def _simple(self, info: int) -> None:
        if info == 31:
            raise EnvelopeError("CBOR: unexpected break")
        if info in (24, 25, 26, 27):
            self._take(1 << (info - 24))
        elif info > 27:
            raise EnvelopeError("CBOR: reserved simple value encoding")

    def item(self, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            raise EnvelopeError("CBOR: nesting too deep")
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            self._simple(info)
            return
        arg = self._argument(info)
        if major in (0, 1):
            return
        if major in (2, 3):
            self._skip(arg)
            return
        if major == 4:
            for _ in range(arg):
                self.item(depth + 1)
            return
        if major == 5:
            seen: set[bytes] = set()
            for _ in range(arg):
                start = self.pos
                self.item(depth + 1)
                key = self.data[start : self.pos]
                if key in seen:
                    raise EnvelopeError("CBOR: duplicate map key")
                seen.add(key)
                self.item(depth + 1)
            return
        # major 6: tag
        if arg not in self.allowed_tags:
            raise EnvelopeError(f"CBOR: tag {arg} is not allowed here")
        self.item(depth + 1)


def check_well_formed(data: bytes, *, allowed_tags: frozenset[int] = frozenset()) -> None:
    """Raise EnvelopeError unless ``data`` is exactly one strict CBOR item."""
    scanner = _Scanner(data, allowed_tags)
    scanner.item()
    if scanner.pos != len(data):
        raise EnvelopeError("CBOR: trailing bytes after the item")


def check_cose_sign1_tagged(data: bytes) -> None:
    """The envelope: tag 18 around the array, and no other tag outside the protected bstr."""
    if not data or data[0] != 0xD2:  # major 6, value 18
        raise EnvelopeError("not a COSE_Sign1_Tagged object: CBOR tag 18 is missing")
    scanner = _Scanner(data, frozenset())
    scanner.pos = 1
    scanner.item()
    if scanner.pos != len(data):
        raise EnvelopeError("CBOR: trailing bytes after the COSE_Sign1 object")


@dataclass(frozen=True)
class EpochTime:
    """The number inside a CBOR tag 1 (seconds since the epoch), not yet a datetime."""

    seconds: int | float


@dataclass(frozen=True)
class SimpleValue:
    """A CBOR simple value other than false/true/null/undefined."""

    value: int


_FLOATS = {25: ">e", 26: ">f", 27: ">d"}


class _Decoder(_Scanner):
    """Values of an item that ``_Scanner`` has already found well formed."""

    def value(self) -> Any:
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self._simple_value(info)
        arg = self._argument(info)
        return _MAJORS[major](self, arg)

    def _text(self, length: int) -> str:
        try:
            return self._take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise EnvelopeError("CBOR: a text string is not valid UTF-8") from None

    def _array(self, count: int) -> list[Any]:
        return [self.value() for _ in range(count)]

    def _tag(self, number: int) -> EpochTime:
        inner = self.value()  # only tag 1 is allowed where this decoder is used
        if isinstance(inner, bool) or not isinstance(inner, int | float):
            raise EnvelopeError("CBOR: tag 1 must hold a number of seconds")
        return EpochTime(inner)

    def _map(self, count: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for _ in range(count):
            key = self.value()
            if isinstance(key, list | dict):
                raise EnvelopeError("CBOR: a map key is an array or a map")
            if key in out:  # same bytes were caught by the scan; this is 1 == 1.0 == True
                raise EnvelopeError(f"CBOR: map keys {key!r} are ambiguous")
            out[key] = self.value()
        return out

    def _simple_value(self, info: int) -> Any:
        if info in _FLOATS:
            return struct.unpack(_FLOATS[info], self._take(1 << (info - 24)))[0]
        if info == 24:
            return SimpleValue(self._take(1)[0])
        return {20: False, 21: True, 22: None, 23: None}.get(info, SimpleValue(info))


_MAJORS: dict[int, Callable[[_Decoder, int], Any]] = {
    0: lambda _, n: n,
    1: lambda _, n: -1 - n,
    2: _Decoder._take,
    3: _Decoder._text,
    4: _Decoder._array,
    5: _Decoder._map,
    6: _Decoder._tag,
}


def decode_header(data: bytes, *, allowed_tags: frozenset[int]) -> Any:
    """Check ``data`` is one strict CBOR item and decode it (tag 1 becomes EpochTime)."""
    check_well_formed(data, allowed_tags=allowed_tags)
    return _Decoder(data, allowed_tags).value()
