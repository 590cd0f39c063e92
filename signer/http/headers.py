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


# what every server sends: fields of one line each (a name, a colon, a value without CR
# or LF), then the blank line. A name holds no space, so no such line is an mbox "From ".
# Each line has exactly one way to match (the value starts after the blanks), so a block
# that fails does so in linear time: no backtracking across lines.
_PLAIN_FIELD = r"([\041-\071\073-\176]+):[\t ]*((?:[^\t \r\n][^\r\n]*)?)\r?\n"
_PLAIN_BLOCK = re.compile(rf"(?:{_PLAIN_FIELD})*\r?\n\Z")
_FIELD = re.compile(_PLAIN_FIELD)


def parse_headers(fp: BinaryIO, _class: Any = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers`` with a direct header-block parser."""
    lines: list[bytes] = http.client._read_headers(fp)  # type: ignore[attr-defined]
    block = b"".join(lines).decode("iso-8859-1")
    message = _class()
    if _PLAIN_BLOCK.match(block):
        for field in _FIELD.findall(block):
            message.set_raw(*field)
        return message
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


def _lines(block: str) -> list[str]:
    parts = _LINE_END.split(block)  # text, end, text, end, ..., rest
    lines = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
    return [*lines, parts[-1]] if parts[-1] else lines


def install() -> None:
    """Idempotent; HTTPResponse.begin looks the function up in its module each time."""
    if getattr(http.client, "_read_headers", None) is not None:
        http.client.parse_headers = parse_headers  # type: ignore[assignment]
