"""A small Azure Resource Manager client over urllib, authenticated as azd's account."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

DEFAULT_ENDPOINT = "https://management.azure.com"
ENDPOINT_SETTING = "AZURE_RESOURCE_MANAGER_ENDPOINT"

Json = dict[str, Any]
TokenProvider = Callable[[], str]


class HookError(Exception):
    """A deployment step cannot go on; the message says why and what to do."""


class ArmError(HookError):
    def __init__(self, status: int, method: str, path: str, code: str, message: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status} {code}: {message}".rstrip(": "))
        self.status = status
        self.code = code


def cli_token_provider(endpoint: str, tenant_id: str | None, tool: str) -> TokenProvider:
    """Tokens for ``endpoint`` from azd (``azd auth token``) or, without azd, the Azure CLI."""
    cached: dict[str, Any] = {}
    if tool == "az":
        command = ["az", "account", "get-access-token", "--resource", f"{endpoint}/"]
        command += ["--output", "json"] + (["--tenant", tenant_id] if tenant_id else [])
        field = "accessToken"
    else:
        command = ["azd", "auth", "token", "--output", "json", "--scope", f"{endpoint}/.default"]
        command += ["--tenant-id", tenant_id] if tenant_id else []
        field = "token"

    def token() -> str:
        if cached.get("expires", 0.0) > time.time():
            return str(cached["token"])
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise HookError(f"{command[0]} is not on PATH") from None
        if result.returncode != 0:
            raise HookError(
                f"{' '.join(command[:3])} failed: {result.stderr.strip()} (sign in first)"
            )
        try:
            cached["token"] = json.loads(result.stdout)[field]
        except (ValueError, KeyError, TypeError):
            raise HookError(f"{command[0]} did not answer with a token") from None
        cached["expires"] = time.time() + 1500  # both refresh; ask again after 25 min
        return str(cached["token"])

    return token


class Arm:
    """GET/PUT/DELETE against ARM paths (``/subscriptions/...``), JSON in and out."""

    def __init__(
        self,
        token: TokenProvider,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60,
    ) -> None:
        parsed = urllib.parse.urlsplit(endpoint)
        loopback = parsed.hostname in ("127.0.0.1", "localhost")
        if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
            raise HookError(f"{ENDPOINT_SETTING} must be an https URL, got {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self._attempts = attempts
        self._sleep = sleep
        self._timeout = timeout

    @classmethod
    def from_environment(cls, env: dict[str, str]) -> Arm:
        """azd's account; SIGNER_HOOKS_CREDENTIAL=az uses the Azure CLI's (no azd)."""
        endpoint = (env.get(ENDPOINT_SETTING) or DEFAULT_ENDPOINT).rstrip("/")
        tool = env.get("SIGNER_HOOKS_CREDENTIAL") or "azd"
        if tool not in ("azd", "az"):
            raise HookError(f"SIGNER_HOOKS_CREDENTIAL must be azd or az, not {tool!r}")
        tenant = env.get("AZURE_TENANT_ID") or None
        return cls(cli_token_provider(endpoint, tenant, tool), endpoint)

    def request(self, method: str, path: str, api_version: str, body: Any = None) -> Any:
        """The answer's JSON (None for an empty body); an ArmError for any failure."""
        separator = "&" if "?" in path else "?"
        url = path if path.startswith("http") else f"{self.endpoint}{path}"
        if not url.startswith(f"{self.endpoint}/"):  # a nextLink elsewhere gets no token
            raise HookError(f"refusing to send the token outside {self.endpoint}: {url}")
        if "api-version=" not in url:
            url = f"{url}{separator}api-version={api_version}"
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(1, self._attempts + 1):
            request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - https or loopback, checked in __init__
            request.add_header("Authorization", f"Bearer {self._token()}")
            request.add_header("Accept", "application/json")
            if data is not None:
                request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                    raw = answer.read()
                    return json.loads(raw) if raw.strip() else None
            except urllib.error.HTTPError as exc:
                raw = exc.read()
                if exc.code in (429, 500, 502, 503, 504) and attempt < self._attempts:
                    self._sleep(_retry_after(exc.headers.get("Retry-After"), attempt))
                    continue
                code, message = _error(raw)
                raise ArmError(exc.code, method, path, code, message) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt < self._attempts:
                    self._sleep(_retry_after(None, attempt))
                    continue
                raise HookError(f"{method} {path}: cannot reach {self.endpoint}: {exc}") from None
        raise AssertionError("unreachable")

    def get(self, path: str, api_version: str) -> Json | None:
        """The resource, or None when it does not exist (404)."""
        try:
            return dict(self.request("GET", path, api_version) or {})
        except ArmError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, path: str, api_version: str) -> Iterator[Json]:
        """Every item of a list, following nextLink."""
        page: Any = self.request("GET", path, api_version)
        while True:
            yield from (page or {}).get("value", [])
            next_link = (page or {}).get("nextLink")
            if not next_link:
                return
            page = self.request("GET", str(next_link), api_version)

    def put(self, path: str, api_version: str, body: Json) -> Json:
        return dict(self.request("PUT", path, api_version, body) or {})

    def delete(self, path: str, api_version: str) -> bool:
        """True when something was deleted, False when there was nothing to delete."""
        try:
            self.request("DELETE", path, api_version)
        except ArmError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        return min(float(header), 60.0) if header else float(2**attempt)
    except ValueError:
        return float(2**attempt)


def _error(raw: bytes) -> tuple[str, str]:
    try:
        error = json.loads(raw).get("error", {})
        return str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        return "", raw.decode("utf-8", "replace")[:300]


def resource_group_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "resourcegroups" not in lowered:
        raise HookError(f"not a resource id in a resource group: {resource_id!r}")
    return parts[lowered.index("resourcegroups") + 1]


def environment() -> dict[str, str]:
    return dict(os.environ)


def outputs(env: dict[str, str], path: str | None) -> dict[str, Any]:
    """Deployment outputs: azd's environment (objects as JSON text), or, for a deployment
    made with az, the file ``az deployment sub show --query properties.outputs`` wrote."""
    if path is None:
        return dict(env)
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except (OSError, ValueError) as exc:
        raise HookError(f"cannot read the deployment outputs in {path}: {exc}") from None
    return {name: entry.get("value") for name, entry in raw.items() if isinstance(entry, dict)}


def setting(values: dict[str, Any], name: str) -> str:
    value = values.get(name)
    if value in (None, ""):
        raise HookError(f"{name} is not set: run `azd provision` first")
    return value if isinstance(value, str) else json.dumps(value)


def json_setting(values: dict[str, Any], name: str) -> Any:
    value = values.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise HookError(f"{name} is not JSON: {value[:80]!r}") from None
    if value is None:
        raise HookError(f"{name} is not set: run `azd provision` first")
    return value
