"""Azure Container Registry: Entra ID token -> ACR refresh token -> repository access token.

ACR's SDK redoes this dance for every call (four round trips each); a signer
that makes several registry calls per signature cannot afford that. Here the
refresh token is cached per registry and access tokens per repository scope,
each until shortly before the ``exp`` in its JWT payload, and the access token
is attached before the first request, so steady state costs no extra requests.
"""

from __future__ import annotations

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError

from signer.errors import AuthenticationError, TransientRegistryError
from signer.http.urls import is_loopback
from signer.registry.auth import AuthRequest
from signer.registry.response import HttpResponse
from signer.registry.tokens import TokenCache, token_from_json

ACR_ENTRA_SCOPE = "https://containerregistry.azure.net/.default"


class AcrAuth:
    """Entra ID identity (managed identity, workload identity...) for one or more ACR registries."""

    def __init__(self, credential: TokenCredential, *, entra_scope: str = ACR_ENTRA_SCOPE) -> None:
        self._credential = credential
        self._entra_scope = entra_scope
        self._refresh = TokenCache()  # registry -> ACR refresh token
        self._access = TokenCache()  # (registry, scope) -> ACR access token

    def __repr__(self) -> str:
        return f"AcrAuth({type(self._credential).__name__})"

    def header(self, request: AuthRequest) -> str:
        return "Bearer " + self._access_token(request)

    def challenge(
        self, request: AuthRequest, www_authenticate: str, rejected: str | None
    ) -> str | None:
        # A cached token was refused (revoked, clock skew, role change): start over once.
        if rejected is not None and rejected.startswith("Bearer "):
            self._access.discard((request.registry, request.scope), rejected[len("Bearer ") :])
            self._refresh.discard(request.registry)
        return "Bearer " + self._access_token(request)

    def _access_token(self, request: AuthRequest) -> str:
        def fetch() -> tuple[str, float]:
            refresh = self._refresh.get_or_fetch(request.registry, lambda: self._exchange(request))
            response = self._token(request, refresh)
            if response.status == 401:  # refresh token expired early or was revoked
                self._refresh.discard(request.registry, refresh)
                refresh = self._refresh.get_or_fetch(
                    request.registry, lambda: self._exchange(request)
                )
                response = self._token(request, refresh)
            _check(response, request, "/oauth2/token")
            return token_from_json(response.content, ("access_token",), "ACR /oauth2/token")

        return self._access.get_or_fetch((request.registry, request.scope), fetch)

    def _token(self, request: AuthRequest, refresh_token: str) -> HttpResponse:
        return request.send(
            "POST",
            f"{request.base_url}/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "service": request.registry,
                "scope": request.scope,
                "refresh_token": refresh_token,
            },
        )

    def _exchange(self, request: AuthRequest) -> tuple[str, float]:
        if request.base_url.startswith("http://") and not is_loopback(request.registry):
            # the Entra token's audience is every registry the identity may reach
            raise AuthenticationError(
                f"refusing to send an Entra ID token over plain http to {request.registry}: "
                "Entra auth needs an https registry (plain http only on loopback)"
            )
        try:
            entra = self._credential.get_token(self._entra_scope).token
        except ClientAuthenticationError as exc:
            # the credential could not get a token (identity endpoint down or throttled, as
            # the Key Vault edge treats it): a later delivery can succeed, so transient
            raise TransientRegistryError(
                f"could not get an Entra ID token for {self._entra_scope}: {type(exc).__name__}"
            ) from None
        except AzureError as exc:
            raise TransientRegistryError(
                f"Entra ID token request failed: {type(exc).__name__}"
            ) from None
        response = request.send(
            "POST",
            f"{request.base_url}/oauth2/exchange",
            data={"grant_type": "access_token", "service": request.registry, "access_token": entra},
        )
        _check(response, request, "/oauth2/exchange")
        return token_from_json(response.content, ("refresh_token",), "ACR /oauth2/exchange")


def _check(response: HttpResponse, request: AuthRequest, endpoint: str) -> None:
    if response.status == 200:
        return
    if response.status in (401, 403):
        raise AuthenticationError(
            f"{request.registry}{endpoint} refused the identity (HTTP {response.status}): "
            "check its AcrPush / Container Registry Repository Writer role assignment"
        )
    raise AuthenticationError(f"{request.registry}{endpoint} answered HTTP {response.status}")
