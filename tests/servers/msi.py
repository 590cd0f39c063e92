"""A managed-identity token endpoint, App Service style (what Azure Functions provides).

azure-identity's ManagedIdentityCredential talks to it unchanged when IDENTITY_ENDPOINT is
``<server>.endpoint`` and IDENTITY_HEADER is ``<server>.identity_header``:
``GET /msi/token?api-version=2019-08-01&resource=<resource>[&client_id=<id>]`` with the
``X-IDENTITY-HEADER`` header. Tokens are opaque random strings remembered with their
resource, so the Key Vault (``https://vault.azure.net``) and ACR
(``https://containerregistry.azure.net``) test servers can check what they are given.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.servers.loopback import BackgroundServer, LoopbackHTTPServer

TOKEN_PATH = "/msi/token"
API_VERSION = "2019-08-01"
# every variable that changes which credential azure-identity picks: cleared before
# pointing IDENTITY_ENDPOINT/IDENTITY_HEADER at this server
IDENTITY_VARIABLES = (
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
)


@dataclass(frozen=True)
class IssuedToken:
    resource: str
    client_id: str | None  # the user-assigned identity asked for, None for system-assigned
    expires_on: int


@dataclass(frozen=True)
class TokenRequest:
    resource: str | None
    api_version: str | None
    client_id: str | None
    header_ok: bool


class ManagedIdentityServer(BackgroundServer):
    def __init__(self, *, token_lifetime: int = 3600) -> None:
        self.identity_header = secrets.token_hex(16)
        self.token_lifetime = token_lifetime
        self.requests: list[TokenRequest] = []
        self._issued: dict[str, IssuedToken] = {}
        self._fail_next: list[int] = []
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------

    thread_name = "msi-server"

    def make_server(self) -> LoopbackHTTPServer:
        return LoopbackHTTPServer(type("Handler", (_Handler,), {"msi": self}))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}{TOKEN_PATH}"

    # --- what tests look at and control ---------------------------------------------------

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def calls_for(self, resource: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.resource == resource)

    def fail_next(self, times: int = 1, status: int = 500) -> None:
        with self._lock:
            self._fail_next.extend([status] * times)

    def is_valid(self, token: str, resource: str) -> bool:
        """True for an unexpired token this server issued for ``resource``."""
        with self._lock:
            issued = self._issued.get(token)
        return (
            issued is not None
            and issued.resource.rstrip("/") == resource.rstrip("/")
            and issued.expires_on > time.time()
        )

    def token_info(self, token: str) -> IssuedToken | None:
        with self._lock:
            return self._issued.get(token)

    def validator(self, resource: str) -> Callable[[str], bool]:
        """A ``token -> bool`` check for a resource server (e.g. KeyVaultServer)."""
        return lambda token: self.is_valid(token, resource)

    # --- request handling -------------------------------------------------------------------

    def _answer(
        self, query: dict[str, list[str]], header: str | None
    ) -> tuple[int, dict[str, Any]]:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        resource = one("resource")
        client_id = one("client_id") or one("principal_id") or one("mi_res_id")
        header_ok = header is not None and secrets.compare_digest(header, self.identity_header)
        request = TokenRequest(resource, one("api-version"), client_id, header_ok)
        with self._lock:
            self.requests.append(request)
            failure = self._fail_next.pop(0) if self._fail_next else None
        if failure is not None:
            return failure, {"error": "service_unavailable", "error_description": "injected"}
        if not header_ok:
            return 401, {"statusCode": 401, "message": "missing or wrong X-IDENTITY-HEADER"}
        if request.api_version != API_VERSION or not resource:
            return 400, {"error": "invalid_request", "error_description": "api-version/resource"}
        token = secrets.token_urlsafe(32)
        expires_on = int(time.time()) + self.token_lifetime
        with self._lock:
            self._issued[token] = IssuedToken(resource, client_id, expires_on)
        body: dict[str, Any] = {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
        }
        if client_id:
            body["client_id"] = client_id
        return 200, body


class _Handler(BaseHTTPRequestHandler):
    msi: ManagedIdentityServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != TOKEN_PATH:
            self._send(404, {"error": "not_found"})
            return
        status, body = self.msi._answer(
            parse_qs(parts.query), self.headers.get("X-IDENTITY-HEADER")
        )
        self._send(status, body)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running_msi_server(**kwargs: Any) -> Iterator[ManagedIdentityServer]:
    server = ManagedIdentityServer(**kwargs)
    with server:
        yield server
