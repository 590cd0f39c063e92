"""Parsing of the option values shared by the CLI, the HTTP API and app settings."""

from __future__ import annotations

import re
from datetime import timedelta

from signer.errors import ConfigurationError

_DURATION_RE = re.compile(r"(\d+)([dhms])")
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str, name: str = "duration") -> timedelta:
    """Go-style durations as notation's --expiry takes them (``8760h``, ``90d``, ``1h30m``)."""
    compact = text.strip().replace(" ", "")
    if not compact or _DURATION_RE.sub("", compact):
        raise ConfigurationError(
            f"{name}: {text!r} is not a duration (use e.g. 8760h, 90d or 1h30m)"
        )
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in _DURATION_RE.findall(compact))
    if seconds <= 0:
        raise ConfigurationError(f"{name}: duration must be positive")
    return timedelta(seconds=seconds)


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
    return out
