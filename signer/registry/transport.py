"""HTTP to one registry: retries, auth, origin rules, size caps and error mapping in one place.

Requests go through ``signer.http.HttpClient`` (pooled, a hard deadline per attempt, the
proxy and CA-bundle environment azure-core honours). The registry's credentials are
attached only to requests for the registry's own origin: a URL that a registry answer
names (a next page, an upload session, a redirect) on another origin is refused, or
fetched without them where the protocol needs it (an upload session on a storage front
end; redirects are handled by the HTTP client, which drops ``Authorization`` when one
leaves the origin). Every transport failure becomes a ``RegistryError`` or
``TransientRegistryError`` whose message holds no secret.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, NoReturn
from urllib.parse import urlencode

from signer import SIGNING_AGENT
from signer.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RegistryError,
    TransientRegistryError,
)
from signer.http import FailureKind, HttpClient, HttpResponse, TransportError, origin_of
from signer.http.client import DEFAULT_BODY_LIMIT, parse_decimal
from signer.http.urls import UnsafeUrlError
from signer.reference import validate_registry
from signer.registry.auth import AuthRequest, RegistryAuth, basic_header

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: seconds one registry call may spend on retries before it gives up as transient: an
#: event must finish (or fail) within Event Grid's 30 s delivery timeout
CALL_BUDGET = 20.0


class ResponseTooLargeError(RegistryError):
    """A success body exceeded the cap the caller set (callers may word it better)."""

    code = "response_too_large"

    def __init__(self, message: str, size: int | None) -> None:
        super().__init__(message)
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
    """Seconds from a ``Retry-After`` value (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    seconds = parse_decimal(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    try:
        return max(0.0, when.timestamp() - time.time())
    except (OverflowError, OSError, ValueError):
        return None


def _error_entries(response: HttpResponse) -> list[Any]:
    """The ``errors`` list of a distribution-spec error body, as sent ([] if none)."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
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
        return _printable("; ".join(parts))[:300]
    return _printable(response.content[:200].decode("utf-8", "replace"))


def _printable(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def error_codes(response: HttpResponse) -> set[str]:
    """The ``code`` of every entry in a distribution-spec error body (empty if none)."""
    return {str(e["code"]) for e in _error_entries(response) if isinstance(e, dict) and "code" in e}


def _where(url: str) -> str:
    return url.split("?", 1)[0]


def _origin_or_none(url: str) -> object:
    try:
        return origin_of(url)
    except UnsafeUrlError:
        return None


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
        call_budget: float = CALL_BUDGET,
    ) -> None:
        self.registry, self.base_url = split_registry(registry, insecure)
        self._call_budget = call_budget
        self.origin = origin_of(self.base_url)
        self.insecure = insecure
        self._auth = auth
        self._retries = max(0, retries)
        self._backoff = retry_backoff
        self._max_retry_after = max_retry_after
        self._http = HttpClient(timeout=timeout, pool_size=pool_size, user_agent=SIGNING_AGENT)

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        """An absolute URL on the registry's own origin; anything else is refused."""
        if path.startswith("/") and not path.startswith("//"):
            return self.base_url + path
        try:
            same = origin_of(path) == self.origin
        except UnsafeUrlError as exc:
            raise RegistryError(f"registry {self.registry} named an unusable URL: {exc}") from None
        if not same:
            raise RegistryError(
                f"registry {self.registry} pointed a request at another origin; refused "
                "(its credentials are only ever sent to itself)"
            )
        return path

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
        before_attempt: Callable[[], None] | None = None,
    ) -> HttpResponse:
        """One request, retried on 5xx/429/connection errors; no registry auth added.

        ``url`` is absolute (a token realm, an upload session); ``basic`` credentials are
        sent only where the caller decided they belong. ``before_attempt`` runs before each
        try (the write fence: a retry after a long back-off must not write from a lock that
        ran out meanwhile).
        """
        url, all_headers, body = self._prepare(url, params, data, basic, headers)
        started = time.monotonic()
        attempt = 0
        while True:
            if before_attempt is not None:
                before_attempt()
            try:
                response = self._http.exchange(
                    method, url, headers=all_headers, body=body, max_body=max_body
                )
            except TransportError as exc:
                self._raise_permanent(exc, method, url)
                if attempt >= self._retries or self._out_of_budget(started):
                    raise TransientRegistryError(
                        f"{method} {_where(url)}: {exc.detail} after {attempt + 1} attempts"
                    ) from None
                self._sleep(self._delay(attempt))
            else:
                if response.status not in _RETRY_STATUSES:
                    return response
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if (
                    attempt >= self._retries
                    or (wait is not None and wait > self._max_retry_after)
                    or self._out_of_budget(started)
                ):
                    raise TransientRegistryError(
                        f"{method} {_where(url)}: HTTP {response.status} after "
                        f"{attempt + 1} attempts"
                        + (f" (Retry-After {wait:.0f}s)" if wait is not None else "")
                    )
                self._sleep(self._delay(attempt) if wait is None else wait)
            attempt += 1

    def _prepare(
        self,
        url: str,
        params: Mapping[str, Any] | list[tuple[str, str]] | None,
        data: Mapping[str, str] | bytes | None,
        basic: tuple[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[str, dict[str, str], bytes | None]:
        """The URL (checked, with its query), headers and body of a request."""
        try:
            target = origin_of(url)
        except UnsafeUrlError as exc:
            raise RegistryError(f"registry {self.registry} named an unusable URL: {exc}") from None
        if target.scheme == "http" and not self.insecure:
            raise RegistryError(f"refusing plain http request to {_where(url)}")
        all_headers = dict(headers or {})
        body: bytes | None
        if isinstance(data, Mapping):
            body = urlencode(list(data.items())).encode("ascii")
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            body = data
        if basic is not None:
            all_headers["Authorization"] = basic_header(*basic)
        if params:
            items = list(params.items()) if isinstance(params, Mapping) else list(params)
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(items)}"
        return url, all_headers, body

    def _raise_permanent(self, exc: TransportError, method: str, url: str) -> None:
        if exc.kind is FailureKind.TLS:
            raise RegistryError(
                f"TLS handshake with {self.registry} failed (is it an https registry, and is "
                "its CA in the bundle? REQUESTS_CA_BUNDLE or SSL_CERT_FILE name one)"
            ) from None
        if exc.kind is FailureKind.TOO_LARGE:
            raise ResponseTooLargeError(
                f"{method} {_where(url)}: {exc.detail}, more than allowed", exc.size
            ) from None
        if not exc.kind.transient:
            raise RegistryError(f"{method} {_where(url)}: {exc.detail}") from None

    def _out_of_budget(self, started: float) -> bool:
        """No retry once a call has taken ``call_budget`` seconds (Event Grid waits 30 s)."""
        return time.monotonic() - started > self._call_budget

    def _delay(self, attempt: int) -> float:
        return float(self._backoff * (2**attempt) * (0.5 + random.random() / 2))  # noqa: S311

    @staticmethod
    def _sleep(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

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
        before_attempt: Callable[[], None] | None = None,
    ) -> HttpResponse:
        """Authorised request to the registry's origin; statuses outside ``expect`` raise.

        ``what`` names the object for error messages ("manifest app:1.0").
        """
        url = self.url(path)
        context = AuthRequest(self.registry, self.base_url, scope, self.insecure, self._send_plain)
        authorization = self._auth.header(context)

        def go(auth_header: str | None) -> HttpResponse:
            all_headers = dict(headers or {})
            if auth_header:
                all_headers["Authorization"] = auth_header
            return self.send(
                method,
                url,
                params=params,
                data=data,
                headers=all_headers,
                max_body=max_body,
                before_attempt=before_attempt,
            )

        response = go(authorization)
        if response.status == 401:
            if _origin_or_none(response.url) != self.origin:
                # a redirect target's challenge: answering it would hand the registry's
                # credentials (or a token realm of its choosing) to another origin
                raise AuthenticationError(
                    f"{what} at {self.registry}: a redirect led to another origin that "
                    "asks for credentials; refused"
                )
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
