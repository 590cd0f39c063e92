"""JWT-shaped tokens for the test registry: HMAC-signed, with ``exp`` and granted access.

The client reads ``exp`` without verifying (as it must with ACR), so the tokens
have the real shape; the server verifies them so stale or forged ones fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def revoke_all(self) -> None:
        """New signing key: every token issued so far stops working."""
        self._secret = secrets.token_bytes(32)

    def issue(
        self,
        kind: str,
        subject: str,
        ttl: float,
        access: dict[str, list[str]] | None = None,
    ) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims: dict[str, Any] = {
            "typ": kind,
            "sub": subject,
            "exp": int(time.time() + ttl),
            "jti": str(uuid.uuid4()),
            "access": [
                {"type": "repository", "name": name, "actions": actions}
                for name, actions in (access or {}).items()
            ],
        }
        payload = _b64(json.dumps(claims).encode())
        signature = _b64(hmac.new(self._secret, f"{header}.{payload}".encode(), "sha256").digest())
        return f"{header}.{payload}.{signature}"

    def verify(self, token: str, kind: str) -> dict[str, Any] | None:
        """The claims if the token is ours, of ``kind`` and unexpired; else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
        try:
            if not hmac.compare_digest(_unb64(parts[2]), expected.digest()):
                return None
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return None
        if not isinstance(claims, dict) or claims.get("typ") != kind:
            return None
        if claims.get("exp", 0) <= time.time():
            return None
        return claims


def granted_actions(claims: dict[str, Any], repository: str) -> set[str]:
    out: set[str] = set()
    for item in claims.get("access", []):
        if isinstance(item, dict) and item.get("name") == repository:
            out.update(a for a in item.get("actions", []) if isinstance(a, str))
    return out


def parse_scopes(scopes: list[str]) -> dict[str, list[str]]:
    """``repository:<name>:<a,b>`` scopes (several may be given) to {name: actions}."""
    out: dict[str, list[str]] = {}
    for scope in scopes:
        for item in scope.split(" "):
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and name:
                merged = out.setdefault(name, [])
                merged.extend(a for a in actions.split(",") if a and a not in merged)
    return out
