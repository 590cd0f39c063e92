"""HTTP to one registry: retries, auth, size caps, and error mapping in one place.

One ``requests.Session`` (its urllib3 pool is thread-safe) is shared by all
workers; nothing on the session is mutated after construction, so sharing it is
safe. Bodies are read here, under a cap, so a connection that dies mid-body is
retried like any other transient failure.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Collection, Mapping
from typing import Any, NoReturn

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from signer.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RegistryError,
    TransientRegistryError,
)
from signer.reference import validate_registry
from signer.registry.auth import AuthRequest, RegistryAuth
from signer.registry.response import HttpResponse

USER_AGENT = "acr-notary-signer/0.1"
ERROR_BODY_LIMIT = 64 * 1024
DEFAULT_BODY_LIMIT = 4 * 1024 * 1024
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class BodyTooLargeError(Exception):
    """Internal: a success body exceeded the caller's cap (callers pick the public error)."""

    def __init__(self, size: int | None) -> None:
        super().__init__(f"response body larger than allowed ({size} bytes)")
        self.size = size


def split_registry(registry: str, insecure: bool) -> tuple[str, str]:
    """``(host, base_url)``; plain http only when the caller said ``insecure``."""
    scheme = "http" if insecure else "https"
    host = registry
    for prefix in ("https://", "http://"):
        if registry.lower().startswith(prefix):
            scheme, host = prefix[:-3], registry[len(prefix) :].rstrip("/")
    if scheme == "http" and not insecure:
        raise ConfigurationError(
            f"refusing plain http for registry {host!r}: "
            "pass insecure=True for a local test registry"
        )
    host = validate_registry(host)
    return host, f"{scheme}://{host}"


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_entries(response: HttpResponse) -> list[Any]:
    """The ``errors`` list of a distribution-spec error body, as sent ([] if none)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return errors if isinstance(errors, list) else []


def error_detail(response: HttpResponse) -> str:
    """``CODE: message`` from a distribution-spec error body, else a short text excerpt."""
    parts = []
    for item in _error_entries(response)[:3]:
        if isinstance(item, dict):
            code, message = item.get("code", ""), item.get("message", "")
            parts.append(f"{code}: {message}".strip(": "))
    if parts:
        return "; ".join(parts)[:300]
    text = response.content[:200].decode("utf-8", "replace").strip()
    return " ".join(text.split())


def error_codes(response: HttpResponse) -> set[str]:
    """The ``code`` of every entry in a distribution-spec error body (empty if none)."""
    return {str(e["code"]) for e in _error_entries(response) if isinstance(e, dict) and "code" in e}


class Transport:
    def __init__(
        self,
        registry: str,
        *,
        auth: RegistryAuth,
        insecure: bool,
        timeout: float,
        retries: int,
        retry_backoff: float,
        max_retry_after: float,
        pool_size: int = 32,
    ) -> None:
        self.registry, self.base_url = split_registry(registry, insecure)
        self.insecure = insecure
        self._auth = auth
        self._timeout = timeout
        self._retries = max(0, retries)
        self._backoff = retry_backoff
        self._max_retry_after = max_retry_after
        self._session = requests.Session()
        self._session.trust_env = False  # no proxies or .netrc credentials picked up by surprise
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = USER_AGENT

    def close(self) -> None:
        self._session.close()

    def url(self, path: str) -> str:
        return path if "://" in path else self.base_url + path

    # -- raw sending with retries ------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        data: Mapping[str, str] | bytes | None = None,
        basic: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        max_body: int = DEFAULT_BODY_LIMIT,
    ) -> HttpResponse:
        """One request, retried on 5xx/429/connection errors; no registry auth added."""
        if url.startswith("http://") and not self.insecure:
            raise ConfigurationError(f"refusing plain http request to {self._where(url)}")
        attempt = 0
        while True:
            try:
                response = self._once(
                    method,
                    url,
                    params=params,
                    data=data,
                    basic=basic,
                    headers=headers,
                    max_body=max_body,
                )
            except requests.exceptions.SSLError:
                raise RegistryError(
                    f"TLS handshake with {self.registry} failed (is it an https registry?)"
                ) from None
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                if attempt >= self._retries:
                    raise TransientRegistryError(
                        f"{method} {self._where(url)}: {type(exc).__name__} after "
                        f"{attempt + 1} attempts"
                    ) from None
                self._sleep(self._delay(attempt))
            else:
                if response.status not in _RETRY_STATUSES:
                    return response
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if attempt >= self._retries or (wait is not None and wait > self._max_retry_after):
                    raise TransientRegistryError(
                        f"{method} {self._where(url)}: HTTP {response.status} after "
                        f"{attempt + 1} attempts"
                        + (f" (Retry-After {wait:.0f}s)" if wait is not None else "")
                    )
                self._sleep(self._delay(attempt) if wait is None else wait)
            attempt += 1

    def _once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None,
        data: Mapping[str, str] | bytes | None,
        basic: tuple[str, str] | None,
        headers: Mapping[str, str] | None,
        max_body: int,
    ) -> HttpResponse:
        with self._session.request(
            method,
            url,
            params=params,
            data=data,
            auth=basic,
            headers=dict(headers or {}),
            timeout=self._timeout,
            stream=True,
        ) as raw:
            ok = 200 <= raw.status_code < 300
            limit = max_body if ok else ERROR_BODY_LIMIT
            length = raw.headers.get("Content-Length")
            if method == "HEAD":
                return HttpResponse(raw.status_code, CaseInsensitiveDict(raw.headers), b"", raw.url)
            if ok and length is not None and length.isdigit() and int(length) > limit:
                raise BodyTooLargeError(int(length))
            content = bytearray()
            for chunk in raw.iter_content(64 * 1024):
                content += chunk
                if len(content) > limit:
                    if ok:
                        raise BodyTooLargeError(None)
                    del content[limit:]
                    break
            return HttpResponse(
                raw.status_code, CaseInsensitiveDict(raw.headers), bytes(content), raw.url
            )

    def _delay(self, attempt: int) -> float:
        return float(self._backoff * (2**attempt) * (0.5 + random.random() / 2))  # noqa: S311

    @staticmethod
    def _sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def _where(self, url: str) -> str:
        return url.split("?", 1)[0]

    # -- registry requests with auth and error mapping ---------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        what: str,
        expect: Collection[int] = (200,),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        max_body: int = DEFAULT_BODY_LIMIT,
    ) -> HttpResponse:
        """Authorised request; statuses outside ``expect`` become the matching error.

        ``what`` names the object for error messages ("manifest app:1.0").
        """
        context = AuthRequest(self.registry, self.base_url, scope, self.insecure, self._send_plain)
        authorization = self._auth.header(context)
        url = self.url(path)

        def go(auth_header: str | None) -> HttpResponse:
            all_headers = dict(headers or {})
            if auth_header:
                all_headers["Authorization"] = auth_header
            return self.send(
                method, url, params=params, data=data, headers=all_headers, max_body=max_body
            )

        response = go(authorization)
        if response.status == 401:
            retry_with = self._auth.challenge(
                context, response.headers.get("WWW-Authenticate", ""), authorization
            )
            if retry_with is None:
                raise AuthenticationError(
                    f"{what} at {self.registry}: HTTP 401 and no credentials that answer "
                    f"the registry's challenge ({error_detail(response)})"
                )
            response = go(retry_with)
        if response.status in expect:
            return response
        self.fail(response, what)

    def _send_plain(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        data: Mapping[str, str] | bytes | None = None,
        basic: tuple[str, str] | None = None,
    ) -> HttpResponse:
        return self.send(method, url, params=params, data=data, basic=basic)

    def fail(self, response: HttpResponse, what: str) -> NoReturn:
        detail = error_detail(response)
        suffix = f": {detail}" if detail else ""
        if response.status in (401, 403):
            raise AuthenticationError(
                f"{what} at {self.registry}: access denied (HTTP {response.status}){suffix}"
            )
        if response.status == 404:
            raise NotFoundError(f"{what} not found at {self.registry}{suffix}")
        raise RegistryError(f"{what} at {self.registry}: HTTP {response.status}{suffix}")
