"""A well-formedness scan for CBOR that cbor2 decodes too leniently for a verifier.

notation-core-go decodes envelopes with go-cose's strict decoder: duplicate map keys,
indefinite-length items and unexpected tags are errors. cbor2 silently keeps the
last duplicate and accepts indefinite lengths, so we walk the raw bytes first.
"""

from __future__ import annotations

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
