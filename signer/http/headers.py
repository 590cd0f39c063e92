"""``http.client``'s answer-header parsing, without the email parser.

``http.client.parse_headers`` hands the header block to ``email.parser``, a general MIME
parser: for an answer whose Content-Type is multipart (every Table ``$batch`` answer) it
even compiles a regular expression for the (absent) body's boundary, a new one per answer
because each boundary is unique, about 1.5 ms of CPU per transaction; for any answer it
costs several times the rest of the header handling. This replacement reads the same
lines with the stdlib's own ``_read_headers`` (its limits on line length and header
count stay) and builds the same ``HTTPMessage`` the email parser builds for every block
an HTTP server can send: the same names, values and order, folded lines joined as the
email parser joins them, a block ending at the first line that is not a header.
``tests/unit/test_http_headers.py`` holds it to the stdlib on generated blocks.
"""

from __future__ import annotations

import http.client
import re
from typing import Any, BinaryIO

# the email parser's line ends (a bare CR ends a line for it too) and header-line pattern
_LINE_END = re.compile(r"(\r\n|\r|\n)")
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]*:|[\t ]")

#: the stdlib's own function, kept for the tests that hold this one to it
stdlib_parse_headers = http.client.parse_headers


# a line the email parser reads as one whole field: a name, a colon, a value without CR
_PLAIN_FIELD = re.compile(r"([\041-\071\073-\176]+):[\t ]*([^\r]*)\r?\n\Z")


def parse_headers(fp: BinaryIO, _class: Any = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers`` with a direct header-block parser."""
    lines: list[bytes] = http.client._read_headers(fp)  # type: ignore[attr-defined]
    message = _class()
    fields = _plain_fields(lines)
    if fields is not None:
        for field in fields:
            message.set_raw(*field)
        return message
    block = b"".join(lines).decode("iso-8859-1")
    name: str | None = None
    value: list[str] = []
    for line in _lines(block):
        if line[:1] in (" ", "\t"):  # a folded continuation of the previous header
            if name is not None:
                value.append(line)
            continue
        if name is not None:
            message.set_raw(name, "".join(value).rstrip("\r\n"))
            name = None
        if line.startswith("From "):
            continue  # an mbox envelope line: the email parser skips it as a defect
        if not _HEADER_LINE.match(line):
            break  # the blank line, or a line that ends the header block for email too
        colon = line.find(":")
        if colon == 0:
            continue  # no name: the email parser drops it as a defect
        name, value = line[:colon], [line[colon + 1 :].lstrip(" \t")]
    if name is not None:
        message.set_raw(name, "".join(value).rstrip("\r\n"))
    return message


def _plain_fields(lines: list[bytes]) -> list[tuple[str, str]] | None:
    """What every server sends, one field a line, read directly; None for anything else
    (a folded line, a bare CR, an mbox line, no blank line at the end)."""
    if lines[-1] not in (b"\r\n", b"\n"):
        return None
    fields = []
    for line in lines[:-1]:
        match = _PLAIN_FIELD.match(line.decode("iso-8859-1"))
        if match is None or line.startswith(b"From "):
            return None
        name, value = match.groups()
        fields.append((name, value))
    return fields


def _lines(block: str) -> list[str]:
    parts = _LINE_END.split(block)  # text, end, text, end, ..., rest
    lines = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
    return [*lines, parts[-1]] if parts[-1] else lines


def install() -> None:
    """Idempotent; HTTPResponse.begin looks the function up in its module each time."""
    if getattr(http.client, "_read_headers", None) is not None:
        http.client.parse_headers = parse_headers  # type: ignore[assignment]
