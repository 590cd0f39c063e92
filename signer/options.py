"""Parsing of the option values shared by the CLI, the HTTP API and app settings."""

from __future__ import annotations

import re
from datetime import timedelta

from signer.errors import ConfigurationError

_DURATION_RE = re.compile(r"([0-9]{1,12})([dhms])")
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
#: Go's time.Duration tops out at about 292 years (2562047h), so notation's --expiry
#: cannot say more; neither can we (a longer one would also overflow the signing time)
MAX_DURATION_SECONDS = 2562047 * 3600
MAX_METADATA_ENTRIES = 32
MAX_METADATA_TEXT = 1024


def parse_duration(text: str, name: str = "duration") -> timedelta:
    """Go-style durations as notation's --expiry takes them (``8760h``, ``90d``, ``1h30m``)."""
    compact = text.strip().replace(" ", "") if isinstance(text, str) else ""
    if not compact or len(compact) > 64 or _DURATION_RE.sub("", compact):
        raise ConfigurationError(
            f"{name}: {str(text)[:80]!r} is not a duration (use e.g. 8760h, 90d or 1h30m)"
        )
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in _DURATION_RE.findall(compact))
    if seconds <= 0:
        raise ConfigurationError(f"{name}: duration must be positive")
    if seconds > MAX_DURATION_SECONDS:
        raise ConfigurationError(
            f"{name}: {compact[:80]} is longer than the longest duration notation accepts "
            "(2562047h, about 292 years)"
        )
    return timedelta(seconds=seconds)


def check_metadata(metadata: dict[str, str], name: str) -> dict[str, str]:
    """User metadata as a payload may carry it: text that encodes as UTF-8, bounded."""
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise ConfigurationError(f"{name}: at most {MAX_METADATA_ENTRIES} entries")
    for key, value in metadata.items():
        for text in (key, value):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ConfigurationError(
                    f"{name}: {text[:40]!r} is not valid text (not UTF-8: a lone surrogate or "
                    "an undecodable byte)"
                ) from None
            if len(text) > MAX_METADATA_TEXT or not text.isprintable():
                raise ConfigurationError(
                    f"{name}: keys and values are printable text of at most "
                    f"{MAX_METADATA_TEXT} characters"
                )
        if not key:
            raise ConfigurationError(f"{name}: a key is empty")
    return metadata


def parse_metadata(text: str, name: str) -> dict[str, str]:
    """``k=v,k2=v2`` into a dict; keys unique and non-empty."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"{name}: {item!r} is not key=value")
        if key.strip() in out:
            raise ConfigurationError(f"{name}: key {key.strip()!r} given twice")
        out[key.strip()] = value.strip()
    return check_metadata(out, name)
