"""A local stand-in for the parts of Azure Resource Manager the azd hooks use, over real HTTP.

Resources live in memory by id (case-insensitive, like ARM). It answers what the hooks
ask and nothing more: GET/PUT/DELETE of a resource, the subscription's resource list with
a ``resourceType``/``name`` filter, the subscription's system topics, a site's functions,
the caller's permissions at a scope (the entries of that scope and its parents, as ARM
reports inherited assignments), and role assignments at a scope filtered by principal.
Lists are paged two items at a time with ``nextLink``, so paging is exercised. Every
request must carry the bearer token; the requests are recorded for the tests.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from tests.servers.loopback import BackgroundServer, FaultyHandler, LoopbackHTTPServer

Json = dict[str, Any]
TOKEN = "arm-test-token"
PAGE = 2
OWNER = [{"actions": ["*"], "notActions": []}]


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class ArmState:
    resources: dict[str, Json] = field(default_factory=dict)
    permissions: dict[str, list[Json]] = field(default_factory=dict)
    functions: dict[str, list[str]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    # Answers to give before the real one, per "METHOD path-regex": e.g. a 429.
    faults: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    # A subscription PUT reports this state first, then "Succeeded" on the next GET.
    provisioning: str = "Creating"
    final_state: str = "Succeeded"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, resource: Json) -> Json:
        self.resources[str(resource["id"]).lower()] = resource
        return resource

    def get(self, resource_id: str) -> Json | None:
        return self.resources.get(resource_id.lower())

    def calls(self, method: str, fragment: str = "") -> list[Recorded]:
        return [
            r for r in self.requests if r.method == method and fragment.lower() in r.path.lower()
        ]


def resource_id(subscription: str, group: str, provider_type: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{provider_type}/{name}"


def _ancestors(scope: str) -> list[str]:
    """The scope and every parent scope, down to the subscription."""
    parts = scope.strip("/").split("/")
    out = []
    for end in range(2, len(parts) + 1):
        candidate = "/" + "/".join(parts[:end])
        lowered = [p.lower() for p in parts[:end]]
        # only real scopes: subscription, resource group, or a provider resource
        if end == 2 or lowered[-2] == "resourcegroups" or (end > 4 and "providers" in lowered):
            out.append(candidate.lower())
    return out


class FakeArm(BackgroundServer):
    thread_name = "fake-arm"

    def __init__(self) -> None:
        self.state = ArmState()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def make_server(self) -> LoopbackHTTPServer:
        state = self.state

        class Handler(_Handler):
            pass

        Handler.state = state
        return LoopbackHTTPServer(Handler, quiet=True)


class _Handler(FaultyHandler):
    state: ArmState
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        self._serve("GET")

    def do_PUT(self) -> None:  # noqa: N802 - the http.server hook
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802 - the http.server hook
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self.state.lock:
            self.state.requests.append(Recorded(method, self.path, body))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"error": {"code": "InvalidAuthenticationToken", "message": ""}})
                return
            if "api-version" not in query:
                self._send(400, {"error": {"code": "MissingApiVersionParameter", "message": ""}})
                return
            for key, answers in self.state.faults.items():
                want_method, pattern = key.split(" ", 1)
                if want_method == method and re.search(pattern, url.path) and answers:
                    status, headers = answers.pop(0)
                    self._send(status, {"error": {"code": "Injected", "message": ""}}, headers)
                    return
            status, answer = self._route(method, url.path, query, body)
        self._send(status, answer)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        listed = self._list(path, query) if method == "GET" else None
        if listed is not None:
            return self._page(listed, query)
        lowered = path.lower().rstrip("/")
        if method == "GET" and lowered.endswith("/functions"):
            return self._functions(lowered[: -len("/functions")], query)
        if method == "GET":
            return self._get(lowered, path)
        if method == "PUT":
            return self._put(lowered, path, body)
        if method == "DELETE":
            return self._delete(lowered, path)
        return 405, {"error": {"code": "MethodNotAllowed", "message": method}}

    def _list(self, path: str, query: dict[str, list[str]]) -> list[Json] | None:
        lowered = path.lower().rstrip("/")
        condition = query.get("$filter", [""])[0]
        if lowered.endswith("/providers/microsoft.authorization/permissions"):
            scope = path[: -len("/providers/Microsoft.Authorization/permissions")]
            return [e for c in _ancestors(scope) for e in self.state.permissions.get(c, [])]
        if lowered.endswith("/providers/microsoft.authorization/roleassignments"):
            visible = set(
                _ancestors(path[: -len("/providers/Microsoft.Authorization/roleAssignments")])
            )
            wanted = re.search(r"principalId eq '([^']+)'", condition)
            return [
                r
                for key, r in self.state.resources.items()
                if "/providers/microsoft.authorization/roleassignments/" in key
                and str(r["properties"]["scope"]).lower() in visible
                and (wanted is None or r["properties"]["principalId"] == wanted.group(1))
            ]
        if re.fullmatch(r"/subscriptions/[^/]+/resources", lowered):
            kind = re.search(r"resourceType eq '([^']+)'", condition)
            name = re.search(r"name eq '([^']+)'", condition)
            return [
                r
                for r in self.state.resources.values()
                if (kind is None or r["type"].lower() == kind.group(1).lower())
                and (name is None or r["name"].lower() == name.group(1).lower())
            ]
        if lowered.endswith("/providers/microsoft.eventgrid/systemtopics"):
            subscription = lowered.split("/providers/")[0]
            return [
                r
                for key, r in self.state.resources.items()
                if key.startswith(subscription + "/")
                and r["type"].lower() == "microsoft.eventgrid/systemtopics"
            ]
        return None

    def _functions(self, site: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if site not in self.state.resources:
            return 404, {"error": {"code": "ResourceNotFound", "message": site}}
        site_name = self.state.resources[site]["name"]
        names = self.state.functions.get(site, [])
        return self._page([{"name": f"{site_name}/{n}"} for n in names], query)

    def _get(self, lowered: str, path: str) -> tuple[int, Any]:
        resource = self.state.resources.get(lowered)
        if resource is None:
            return 404, {"error": {"code": "ResourceNotFound", "message": path}}
        props = resource.get("properties") or {}
        if props.get("provisioningState") == "Creating":  # done by the next look
            props["provisioningState"] = self.state.final_state
            return 200, {**resource, "properties": {**props, "provisioningState": "Creating"}}
        return 200, resource

    def _put(self, lowered: str, path: str, body: Any) -> tuple[int, Any]:
        stored = {"id": path, "name": path.rsplit("/", 1)[-1], "type": _type_of(path), **body}
        stored["properties"] = {
            **(body.get("properties") or {}),
            "provisioningState": self.state.provisioning,
        }
        created = lowered not in self.state.resources
        self.state.resources[lowered] = stored
        return (201 if created else 200), stored

    def _delete(self, lowered: str, path: str) -> tuple[int, Any]:
        if lowered not in self.state.resources:
            return 404, {"error": {"code": "ResourceNotFound", "message": path}}
        del self.state.resources[lowered]
        return 200, None

    def _page(self, items: list[Json], query: dict[str, list[str]]) -> tuple[int, Json]:
        start = int(query.get("$skiptoken", ["0"])[0])
        page: Json = {"value": items[start : start + PAGE]}
        if start + PAGE < len(items):
            params = {k: v[0] for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = str(start + PAGE)
            host = self.headers.get("Host")
            page["nextLink"] = f"http://{host}{urllib.parse.urlsplit(self.path).path}?" + (
                urllib.parse.urlencode(params)
            )
        return 200, page

    def _send(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _type_of(path: str) -> str:
    parts = path.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    start = len(lowered) - 1 - lowered[::-1].index("providers")
    namespace, rest = parts[start + 1], parts[start + 2 :]
    types = [rest[i] for i in range(0, len(rest), 2)]
    return "/".join([namespace, *types])
