"""Registry credentials: anonymous, basic, and the Docker bearer-token challenge.

Every flow attaches what it already holds before the first request, so a warm
client never pays a 401 round trip. Once a registry has shown its token realm,
tokens for further repositories are fetched without waiting for another 401.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Protocol

from signer.errors import AuthenticationError
from signer.http.urls import UnsafeUrlError, origin_of
from signer.registry.response import Sender
from signer.registry.tokens import Challenge, TokenCache, parse_challenge, token_from_json


@dataclass(frozen=True)
class AuthRequest:
    """What an auth flow may need to know about the request being authorised."""

    registry: str  # host[:port], also the token ``service`` for ACR
    base_url: str  # scheme://host[:port]
    scope: str  # e.g. repository:team/app:pull,push
    insecure: bool
    send: Sender


class RegistryAuth(Protocol):
    """How a :class:`~signer.registry.client.RegistryClient` authenticates."""

    def header(self, request: AuthRequest) -> str | None:
        """``Authorization`` value to send before any challenge, or None."""
        ...

    def challenge(
        self, request: AuthRequest, www_authenticate: str, rejected: str | None
    ) -> str | None:
        """Answer a 401; ``rejected`` is the header just refused. None: cannot authenticate."""
        ...


def basic_header(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def check_realm(realm: str, request: AuthRequest) -> str:
    """Only an absolute https realm (or http when the client is explicitly insecure).

    The realm may be on another host (Docker Hub's auth.docker.io is): that host, named
    by the registry's own challenge, is the one place besides the registry that sees the
    credentials, and only the token request goes there.
    """
    try:
        origin = origin_of(realm)
    except UnsafeUrlError as exc:
        raise AuthenticationError(
            f"registry {request.registry} sent an unusable token realm: {exc}"
        ) from None
    if origin.scheme == "http" and not request.insecure:
        raise AuthenticationError(
            f"registry {request.registry} asks for credentials at a plain-http token realm; "
            "refused (use insecure=True only for local test registries)"
        )
    return realm


class _ChallengeAuth:
    """Bearer-token challenge handling shared by the anonymous and basic flows."""

    def __init__(self, credentials: tuple[str, str] | None, preemptive_basic: bool) -> None:
        self._credentials = credentials
        self._preemptive_basic = preemptive_basic
        self._tokens = TokenCache()
        self._realms: dict[str, Challenge] = {}  # registry -> its last bearer challenge
        self._lock = threading.Lock()

    def header(self, request: AuthRequest) -> str | None:
        with self._lock:
            known = self._realms.get(request.registry)
        if known is not None:
            return "Bearer " + self._token(request, known)
        if self._preemptive_basic and self._credentials is not None:
            return basic_header(*self._credentials)
        return None

    def challenge(
        self, request: AuthRequest, www_authenticate: str, rejected: str | None
    ) -> str | None:
        challenge = parse_challenge(www_authenticate)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            if self._credentials is None:
                return None
            header = basic_header(*self._credentials)
            return None if header == rejected else header
        if challenge.scheme != "bearer":
            return None
        check_realm(challenge.realm, request)
        with self._lock:
            self._realms[request.registry] = challenge
        if rejected is not None and rejected.startswith("Bearer "):
            self._tokens.discard(self._key(request, challenge), rejected[len("Bearer ") :])
        return "Bearer " + self._token(request, challenge)

    def _key(self, request: AuthRequest, challenge: Challenge) -> tuple[str, str, str]:
        return (challenge.realm, challenge.params.get("service", ""), request.scope)

    def _token(self, request: AuthRequest, challenge: Challenge) -> str:
        def fetch() -> tuple[str, float]:
            params: list[tuple[str, str]] = []
            if "service" in challenge.params:
                params.append(("service", challenge.params["service"]))
            params.append(("scope", request.scope))
            response = request.send(
                "GET", check_realm(challenge.realm, request), params=params, basic=self._credentials
            )
            if response.status in (401, 403):
                raise AuthenticationError(
                    f"token endpoint for {request.registry} refused the credentials "
                    f"(HTTP {response.status})"
                )
            if response.status != 200:
                raise AuthenticationError(
                    f"token endpoint for {request.registry} answered HTTP {response.status}"
                )
            return token_from_json(
                response.content,
                ("token", "access_token"),
                f"token endpoint for {request.registry}",
            )

        return self._tokens.get_or_fetch(self._key(request, challenge), fetch)


class AnonymousAuth(_ChallengeAuth):
    """No credentials; still answers bearer challenges (public registries want a token)."""

    def __init__(self) -> None:
        super().__init__(None, preemptive_basic=False)


class BasicAuth(_ChallengeAuth):
    """Username and password: sent as Basic, or to the token realm if the registry wants bearer."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__((username, password), preemptive_basic=True)

    def __repr__(self) -> str:
        return f"BasicAuth(username={self._credentials[0] if self._credentials else ''!r})"


class BearerAuth(_ChallengeAuth):
    """Token challenge only; credentials (optional) go to the realm, never to the registry."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        credentials = (username, password or "") if username is not None else None
        super().__init__(credentials, preemptive_basic=False)

    def __repr__(self) -> str:
        return "BearerAuth()"
