"""Distinguished names the way notation compares trusted identities.

notation-go (internal/pkix) parses both the policy's ``x509.subject`` value and the
leaf's subject (as Go's ``pkix.Name.String()`` prints it) with go-ldap's RFC 4514
parser into a flat ``{type: value}`` map, rejects multi-valued RDNs and repeated
attribute types, requires C, ST and O, and accepts a leaf when every pair of the
identity is present in it. Doing the same here keeps our verdicts equal to
notation's, including the odd cases (two OUs in a leaf make it unverifiable).
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography import x509
from cryptography.x509.oid import NameOID

from signer.errors import CertificateError, ConfigurationError

MANDATORY_ATTRIBUTES = ("C", "ST", "O")

# The attributes Go's pkix.Name parses into named fields, with the names its
# String() prints. Every other attribute keeps its dotted OID.
_GO_NAMES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.POSTAL_CODE: "POSTALCODE",
}
_SPECIAL = frozenset(',+"\\<>;=# ')
_HEX = frozenset("0123456789abcdefABCDEF")


def _decode_ber_string(hex_text: str, dn: str) -> str:
    """``#<hex>`` values: a DER-encoded string; take its contents."""
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        raise ConfigurationError(f"distinguished name {dn!r}: invalid #hex value") from None
    if len(raw) < 2 or raw[1] >= 0x80 or raw[1] != len(raw) - 2:
        raise ConfigurationError(f"distinguished name {dn!r}: unsupported #hex value")
    try:
        return raw[2:].decode()
    except UnicodeDecodeError:
        raise ConfigurationError(f"distinguished name {dn!r}: #hex value is not text") from None


def _unescape(text: str, dn: str) -> str:
    """RFC 4514 value: ``\\<special>`` and ``\\<hex><hex>`` escapes, outer spaces dropped."""
    stripped = text.lstrip(" ")
    if stripped.startswith("#"):
        return _decode_ber_string(stripped[1:].rstrip(" "), dn)
    out = bytearray()
    i = 0
    trailing_escaped = 0  # index in ``out`` up to which trailing spaces are kept
    while i < len(stripped):
        char = stripped[i]
        if char != "\\":
            out += char.encode()
            i += 1
            continue
        nxt = stripped[i + 1 : i + 2]
        if nxt in _SPECIAL and nxt:
            out += nxt.encode()
            i += 2
        elif len(stripped) >= i + 3 and set(stripped[i + 1 : i + 3]) <= _HEX:
            out.append(int(stripped[i + 1 : i + 3], 16))
            i += 3
        else:
            raise ConfigurationError(f"distinguished name {dn!r}: invalid escape sequence")
        trailing_escaped = len(out)
    while len(out) > trailing_escaped and out.endswith(b" "):
        out = out[:-1]
    try:
        return out.decode()
    except UnicodeDecodeError:
        raise ConfigurationError(f"distinguished name {dn!r}: escapes are not UTF-8") from None


def _split(dn: str) -> list[tuple[str, bool]]:
    """Split on unescaped ``,``/``;`` (RDN) and ``+`` (multi-valued RDN)."""
    parts: list[tuple[str, bool]] = []  # (text, joined_to_previous_by_plus)
    current: list[str] = []
    joined = False
    escaped = False
    for char in dn:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char in ",;+":
            parts.append(("".join(current), joined))
            current, joined = [], char == "+"
        else:
            current.append(char)
    if escaped:
        raise ConfigurationError(f"distinguished name {dn!r} ends with a lone backslash")
    parts.append(("".join(current), joined))
    return parts


def parse_dn(dn: str) -> dict[str, str]:
    """Policy identity value -> ``{type: value}``; ConfigurationError naming the rule broken."""
    if not isinstance(dn, str) or not dn.strip():
        raise ConfigurationError(f"distinguished name {dn!r} is empty")
    attributes: dict[str, str] = {}
    for text, joined in _split(dn):
        if joined:
            raise ConfigurationError(
                f"distinguished name {dn!r} has multi-valued RDN attributes, "
                "which are not supported"
            )
        attr_type, sep, value = text.partition("=")
        attr_type = attr_type.strip(" ")
        if not sep or not attr_type:
            raise ConfigurationError(
                f"distinguished name {dn!r} is not valid: expected comma-separated "
                "TYPE=value pairs (RFC 4514)"
            )
        if attr_type in attributes:
            raise ConfigurationError(
                f"distinguished name {dn!r} has duplicate RDN attribute {attr_type!r}"
            )
        attributes[attr_type] = _unescape(value, dn)
    missing = [a for a in MANDATORY_ATTRIBUTES if not attributes.get(a)]
    if missing:
        raise ConfigurationError(
            f"distinguished name {dn!r} has no mandatory RDN attribute for {missing[0]!r}: "
            "it must contain 'C', 'ST' and 'O' at a minimum"
        )
    return attributes


def certificate_dn(cert: x509.Certificate) -> dict[str, str]:
    """The leaf subject as notation sees it (Go groups the named fields by type)."""
    attributes: dict[str, str] = {}
    for attribute in cert.subject:
        name = _GO_NAMES.get(attribute.oid, attribute.oid.dotted_string)
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
        if name in attributes:
            # Go prints repeated named fields as one multi-valued RDN and repeated
            # other attributes as duplicates; go-ldap's parser rejects both.
            raise CertificateError(
                f"the certificate subject {cert.subject.rfc4514_string()!r} has more than one "
                f"{name} attribute, which notation's identity matching cannot handle"
            )
        attributes[name] = value
    missing = [a for a in MANDATORY_ATTRIBUTES if not attributes.get(a)]
    if missing:
        raise CertificateError(
            f"the certificate subject {cert.subject.rfc4514_string()!r} has no {missing[0]} "
            "attribute: trusted identities need C, ST and O"
        )
    return attributes


def is_subset(identity: Mapping[str, str], subject: Mapping[str, str]) -> bool:
    """Every attribute of ``identity`` is in ``subject`` with the same value."""
    return all(subject.get(k) == v for k, v in identity.items())
