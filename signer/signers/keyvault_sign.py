"""Key Vault's ``sign`` operation over its REST API: the one call on every signature's path.

Why not ``CryptographyClient.sign``: through azure-core's pipeline (policies, tracing, a
requests session that walks the whole environment for proxies on every request) one sign
call cost 2.0 ms of CPU against the local vault, as much as the rest of the signature; the
same request here costs a fraction of that. The SDK still does everything else (reading
the certificate and secret once per refresh interval, the key once per version).

The wire protocol is the documented one (``POST {kid}/sign?api-version=7.5`` with
``{"alg", "value"}``; https://learn.microsoft.com/rest/api/keyvault/keys/sign), and the
authentication is the SDK's challenge flow: the first request goes without a token, the
401 names the resource (and tenant) to get one for, which is checked against the vault's
own domain (``verify_challenge_resource``) before any token is sent; the token is kept
until shortly before it expires. Retries as the SDK's: 429 (honouring Retry-After) and
5xx up to ``retry_total``, a dropped connection up to ``sign_attempts`` (signing is safe
to repeat). Errors name the operation and the permission, never a token.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential

from signer.errors import KeyVaultError, TransientKeyVaultError
from signer.http import HttpClient, HttpResponse, TransportError
from signer.http.client import parse_decimal
from signer.registry.tokens import parse_challenge
from signer.signers.keyvault_errors import Operation, http_error, operation

API_VERSION = "7.5"
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_TOKEN_MARGIN = 300.0
MAX_RETRY_AFTER = 60.0
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class SignAnswer:
    signature: bytes
    kid: str | None  # as the vault answered
    alg: str | None


class VaultSigning:
    """Signs digests with keys of one vault; thread-safe, one per signer."""

    def __init__(
        self,
        vault_url: str,
        credential: TokenCredential,
        *,
        verify_challenge_resource: bool = True,
        tls_verify: bool | str = True,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        retry_total: int = 3,
        retry_backoff_factor: float = 0.5,
        sign_attempts: int = 3,
        sign_retry_delay: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._vault = vault_url.rstrip("/")
        self._host = (urlsplit(self._vault).hostname or "").lower()
        self._credential = credential
        self._verify_resource = verify_challenge_resource
        self._http = HttpClient(
            timeout=connect_timeout + read_timeout,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            tls_verify=tls_verify,
        )
        self._retry_total = retry_total
        self._backoff = retry_backoff_factor
        self._attempts = sign_attempts
        self._retry_delay = sign_retry_delay
        self._sleep = sleep
        self._lock = threading.Lock()
        self._scope: tuple[str, str | None] | None = None  # (scope, tenant) from the challenge
        self._token: tuple[str, float] | None = None

    def close(self) -> None:
        self._http.close()

    def sign(self, kid: str, alg: str, digest: bytes) -> SignAnswer:
        op = operation(f"sign with {kid}", "keys/sign", self._vault)
        url = f"{kid}/sign?api-version={API_VERSION}"
        body = json.dumps({"alg": alg, "value": _b64url(digest)}).encode()
        response = self._authorized(url, body, op)
        if response.status != 200:
            raise http_error(response.status, _error_code(response), op)
        try:
            answer = json.loads(response.content)
            signature = _from_b64url(answer["value"])
        except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
            raise KeyVaultError(
                f"Key Vault answered the request to {op.what} with no signature"
            ) from None
        wire_kid = answer.get("kid")
        wire_alg = answer.get("alg")
        return SignAnswer(
            signature,
            wire_kid if isinstance(wire_kid, str) else None,
            wire_alg if isinstance(wire_alg, str) else None,
        )

    # --- the challenge flow -----------------------------------------------------------

    def _authorized(self, url: str, body: bytes, op: Operation) -> HttpResponse:
        response = self._send(url, body, self._bearer(op), op)
        if response.status != 401:
            return response
        # the first request of this client, or a token the vault no longer takes: learn what
        # to ask a token for from the challenge, then one more try with a fresh token (a
        # second 401 is the caller's to report)
        scope = self._scope_from(parse_challenge(response.headers.get("WWW-Authenticate", "")), op)
        with self._lock:
            self._scope, self._token = scope, None
        return self._send(url, body, self._bearer(op), op)

    def _scope_from(self, challenge: Any, op: Operation) -> tuple[str, str | None]:
        if challenge is None or challenge.scheme != "bearer":
            raise KeyVaultError(f"Key Vault's answer to {op.what} has no bearer challenge")
        resource = challenge.params.get("resource") or challenge.params.get("scope", "")
        resource = resource.removesuffix("/.default")
        host = (urlsplit(resource).hostname or "").lower()
        if not host or (
            self._verify_resource and not (self._host == host or self._host.endswith("." + host))
        ):
            raise KeyVaultError(
                f"Key Vault's challenge names the resource {resource[:80]!r}, which is not the "
                f"vault's domain: no token is sent for it"
            )
        authority = challenge.params.get("authorization") or challenge.params.get(
            "authorization_uri", ""
        )
        tenant = urlsplit(authority).path.strip("/").split("/")[0] or None
        return f"{resource}/.default", tenant

    def _bearer(self, op: Operation) -> str | None:
        with self._lock:
            scope, token = self._scope, self._token
        if scope is None:
            return None  # no challenge yet: the first request finds out what to ask for
        if token is not None and time.time() < token[1] - _TOKEN_MARGIN:
            return token[0]
        try:
            access = self._credential.get_token(scope[0], tenant_id=scope[1])
        except Exception as exc:  # the identity endpoint is down or refuses
            raise TransientKeyVaultError(
                f"could not get an access token to {op.what}: {type(exc).__name__}"
            ) from None
        with self._lock:
            self._token = (access.token, float(access.expires_on))
        return access.token

    # --- one request with the SDK's retries --------------------------------------------

    def _send(self, url: str, body: bytes, token: str | None, op: Operation) -> HttpResponse:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        statuses = dropped = 0
        while True:
            try:
                response = self._http.exchange("POST", url, headers=headers, body=body)
            except TransportError as exc:
                if not exc.kind.transient or dropped + 1 >= self._attempts:
                    raise TransientKeyVaultError(
                        f"network error talking to Key Vault to {op.what}: {exc.detail}"
                    ) from None
                dropped += 1
                self._sleep(self._retry_delay * dropped)
                continue
            if response.status not in _RETRY_STATUSES or statuses >= self._retry_total:
                return response
            wait = parse_decimal(response.headers.get("Retry-After"))
            if wait is not None and wait > MAX_RETRY_AFTER:
                return response
            self._sleep(float(wait) if wait is not None else self._backoff * (2**statuses))
            statuses += 1


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _from_b64url(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not text")
    # strict: the lenient decoder would skip stray characters and decode something else
    standard = text.translate(_URLSAFE_TO_STANDARD) + "=" * (-len(text) % 4)
    return base64.b64decode(standard, validate=True)


def _error_code(response: HttpResponse) -> str:
    try:
        code = json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return ""
    # the code goes into a log line: only a plain identifier is kept
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""
