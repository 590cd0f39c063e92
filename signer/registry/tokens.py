"""Token plumbing shared by the auth flows: challenge parsing, expiry, a thread-safe cache."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from signer.errors import AuthenticationError

#: lifetime assumed when neither ``expires_in`` nor a JWT ``exp`` says otherwise
#: (the Docker token spec's default is 60 s)
DEFAULT_TOKEN_LIFETIME = 60.0
#: a token endpoint's word on lifetime is believed up to this (a day): a hostile or broken
#: answer (``exp`` of 1e300, ``expires_in`` NaN) must not pin a token for ever
MAX_TOKEN_LIFETIME = 24 * 3600.0
#: stop using a token this long before it expires (capped at 10% of its lifetime)
EXPIRY_MARGIN = 60.0

#: RFC 6750 b64token: what a bearer token may hold. Anything else (a newline, a non-Latin-1
#: character) would be refused by the HTTP layer with a message that quotes the header.
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*\Z")
MAX_TOKEN_LENGTH = 16 * 1024

_PARAM_RE = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "bearer", "basic"
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenge(header: str) -> Challenge | None:
    """Parse ``WWW-Authenticate`` (one challenge; registries send one)."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace(
            '\\"', '"'
        )
        for m in _PARAM_RE.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


def jwt_expiry(token: str) -> float | None:
    """``exp`` from a JWT payload, unverified: only used to know when to refresh."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error, RecursionError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        try:
            value = float(exp)
        except OverflowError:
            return None
        return value if math.isfinite(value) else None
    return None


def token_lifetime(token: str, expires_in: object = None) -> float:
    """Seconds the token may be used for, from ``expires_in``, else its JWT ``exp``."""
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        return float(min(expires_in, MAX_TOKEN_LIFETIME))
    exp = jwt_expiry(token)
    if exp is not None:
        return min(max(0.0, exp - time.time()), MAX_TOKEN_LIFETIME)
    return DEFAULT_TOKEN_LIFETIME


def token_from_json(content: bytes, fields: tuple[str, ...], what: str) -> tuple[str, float]:
    """Pick the token out of a token endpoint's JSON answer; returns (token, lifetime)."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        for name in fields:
            token = body.get(name)
            if isinstance(token, str) and token:
                if len(token) > MAX_TOKEN_LENGTH or not _TOKEN_RE.match(token):
                    raise AuthenticationError(
                        f"{what} answered with a malformed {name} (not a bearer token)"
                    )
                return token, token_lifetime(token, body.get("expires_in"))
    raise AuthenticationError(f"{what} answered without a {' or '.join(fields)}")


class TokenCache:
    """Tokens by key until shortly before expiry; one fetch at a time per key.

    Sixteen workers hitting a cold cache for one repository must cost one token
    request, not sixteen: the fetch runs under a per-key lock and the others
    find its result when they get the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[Hashable, tuple[str, float]] = {}
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            entry = self._tokens.get(key)
        if entry is None or time.monotonic() >= entry[1]:
            return None
        return entry[0]

    def put(self, key: Hashable, token: str, lifetime: float) -> None:
        margin = min(EXPIRY_MARGIN, lifetime * 0.1)
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + lifetime - margin)

    def discard(self, key: Hashable, token: str | None = None) -> None:
        """Forget ``key`` (only if it still holds ``token``, when given)."""
        with self._lock:
            entry = self._tokens.get(key)
            if entry is not None and (token is None or entry[0] == token):
                del self._tokens[key]

    def get_or_fetch(self, key: Hashable, fetch: Callable[[], tuple[str, float]]) -> str:
        cached = self.get(key)
        if cached is not None:
            return cached
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            cached = self.get(key)
            if cached is not None:
                return cached
            token, lifetime = fetch()
            self.put(key, token, lifetime)
            return token
