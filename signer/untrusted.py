"""The one boundary where parsing untrusted bytes turns library exceptions into project errors.

A signature, a certificate or a trust file comes from someone else. The libraries that
read them (json, base64, cbor2, cryptography) report malformed input with their own
exception classes, some of them only when a field is first used: cryptography parses
certificate names, extensions and keys lazily, so ``cert.subject`` can raise long after
``load_der_x509_certificate`` succeeded. ``UNTRUSTED_INPUT_ERRORS`` lists every class they
raise on hostile input; ``untrusted`` converts them to the caller's ``SignerError``
subclass with a message that says what was being read. Nothing else in the package
catches these classes for untrusted input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cbor2 import CBORError
from cryptography.exceptions import (
    InternalError,
    InvalidKey,
    InvalidSignature,
    UnsupportedAlgorithm,
)
from cryptography.x509 import DuplicateExtension, InvalidVersion, UnsupportedGeneralNameType

from signer.errors import SignerError

#: What the standard library, cbor2 and cryptography raise on malformed input:
#: ValueError covers UnicodeDecodeError, json.JSONDecodeError and binascii.Error;
#: CBORError is cbor2's root (its CBORDecodeEOF is an EOFError, not a ValueError);
#: RecursionError comes from deeply nested JSON or CBOR;
#: OverflowError from times and integers out of range; InvalidVersion,
#: DuplicateExtension, UnsupportedGeneralNameType and UnsupportedAlgorithm from
#: certificates with an unknown version, a repeated extension, an odd name or an
#: unknown key/signature algorithm; InvalidKey/InternalError from keys OpenSSL
#: refuses; InvalidSignature from a signature check reached by an unusual path.
UNTRUSTED_INPUT_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    CBORError,
    EOFError,
    TypeError,
    OverflowError,
    RecursionError,
    LookupError,
    InvalidVersion,
    DuplicateExtension,
    UnsupportedGeneralNameType,
    UnsupportedAlgorithm,
    InvalidKey,
    InternalError,
    InvalidSignature,
)


def describe(exc: BaseException) -> str:
    """A one-line reason: the message, or the class name when the library gives none."""
    text = " ".join(str(exc).split())
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if not text:
        return type(exc).__name__
    return text[:300]


@contextmanager
def untrusted(what: str, error: type[SignerError]) -> Iterator[None]:
    """Inside this block, a library's complaint about the input becomes ``error(what: …)``.

    Project errors pass through unchanged: they already name the rule that was broken.
    """
    try:
        yield
    except SignerError:
        raise
    except UNTRUSTED_INPUT_ERRORS as exc:
        raise error(f"{what}: {describe(exc)}") from None
