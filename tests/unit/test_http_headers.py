"""signer.http.headers builds the HTTPMessage the stdlib's email-based parser builds.

Generated header blocks mix what servers send with what a hostile one might: folded
lines, empty names, stray colons, bare CR or LF, Latin-1 bytes, mbox "From " lines, a
block cut short; each is parsed by both and the messages compared header by header.
"""

from __future__ import annotations

import http.client
import io
import time

from hypothesis import given
from hypothesis import strategies as st

from signer.http import headers
from tests.fuzzing import examples

_PIECES = st.sampled_from(
    [
        "Content-Type", "content-length", "X-Ms-Request-Id", "Docker-Content-Digest", ":",
        ": ", " ", "\t", "value", "sha256:abc", "multipart/mixed; boundary=batch_1", "\r",
        "\n", "\r\n", "From ", "\xe9", "\x00", "\x0b", "\x85", "a:b", "=", ";", '"',
    ]
)  # fmt: skip
_LINE = st.lists(_PIECES, max_size=6).map("".join)


def _block(lines: list[str], terminated: bool) -> bytes:
    text = "".join(line + "\r\n" for line in lines) + ("\r\n" if terminated else "")
    return text.encode("iso-8859-1")


def _both(block: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    ours = headers.parse_headers(io.BytesIO(block))
    stdlib = headers.stdlib_parse_headers(io.BytesIO(block))
    return list(ours.items()), list(stdlib.items())


@examples(400)
@given(st.lists(_LINE, max_size=8), st.booleans())
def test_same_message_as_the_stdlib(lines: list[str], terminated: bool) -> None:
    ours, stdlib = _both(_block(lines, terminated))
    assert ours == stdlib


def test_typical_answers_parse_the_same() -> None:
    blocks = [
        [
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "Docker-Content-Digest: sha256:" + "a" * 64,
            "Content-Length: 1234",
            'Etag: "sha256:abc"',
        ],
        ["Content-Type: multipart/mixed; boundary=batchresponse_66925647", "Cache-Control: no"],
        ['WWW-Authenticate: Bearer realm="https://r/oauth2/token",', '  service="r"'],
        ["Set: one", "Set: two", "set: three"],
    ]
    for lines in blocks:
        ours, stdlib = _both(_block(lines, True))
        assert ours == stdlib and ours


def test_the_parser_is_the_one_http_client_uses() -> None:
    assert http.client.parse_headers is headers.parse_headers


def test_a_hostile_block_is_parsed_in_linear_time() -> None:
    # many fields whose blanks could be split two ways, then a line that ends the fast path:
    # a pattern that backtracks across lines would take 21**90 steps here
    lines = ["Name:" + " " * 20 + "x" * (n % 2) for n in range(90)] + [" folded"]
    started = time.monotonic()
    ours, stdlib = _both(_block(lines, True))
    assert ours == stdlib
    assert time.monotonic() - started < 1.0
