"""An in-memory OCI distribution registry (spec v1.1) for tests and the benchmark.

It speaks the wire protocol a client sees from a real registry, including what
Debian's docker-registry lacks: the referrers API (with ``artifactType``
filtering, ``OCI-Filters-Applied`` and ``Link`` pagination), ``OCI-Subject`` on
manifest PUT, and single-POST monolithic uploads. Auth is switchable at run
time: none, basic, a Docker bearer challenge with its own token endpoint, or
ACR's ``/oauth2/exchange`` + ``/oauth2/token``. Every request is recorded by
method and route pattern so tests can count round trips, and faults (status
codes, Retry-After, dropped connections) can be injected.

    with OciRegistry() as registry:
        client = RegistryClient(registry.host, auth=AnonymousAuth(), insecure=True)
        ...
        assert registry.count("GET", MANIFEST) == 1
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.servers.loopback import BackgroundServer, LoopbackHTTPServer
from tests.servers.tokens import TokenIssuer, granted_actions, parse_scopes

AuthMode = Literal["none", "basic", "bearer", "acr"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_TYPES = (OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json")

# Route patterns as recorded (and as tests name them when counting).
BASE = "/v2/"
MANIFEST = "/v2/<name>/manifests/<reference>"
BLOB = "/v2/<name>/blobs/<digest>"
UPLOADS = "/v2/<name>/blobs/uploads/"
UPLOAD = "/v2/<name>/blobs/uploads/<id>"
REFERRERS = "/v2/<name>/referrers/<digest>"
TAGS = "/v2/<name>/tags/list"
TOKEN = "/token"
EXCHANGE = "/oauth2/exchange"
ACR_TOKEN = "/oauth2/token"

_ROUTES: list[tuple[str, re.Pattern[str]]] = [
    (BASE, re.compile(r"^/v2/?$")),
    (UPLOADS, re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/?$")),
    (UPLOAD, re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<id>[^/]+)$")),
    (BLOB, re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$")),
    (MANIFEST, re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")),
    (REFERRERS, re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)$")),
    (TAGS, re.compile(r"^/v2/(?P<name>.+)/tags/list$")),
    (TOKEN, re.compile(r"^/token$")),
    (EXCHANGE, re.compile(r"^/oauth2/exchange$")),
    (ACR_TOKEN, re.compile(r"^/oauth2/token$")),
]
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    route: str  # one of the route constants above, or the raw path if none matched
    path: str
    status: int
    authorization: str  # "none", "basic" or "bearer" (the scheme only, never the secret)


@dataclass
class _Fault:
    status: int | None  # None: drop the connection without answering
    remaining: int
    retry_after: str | None
    route: str | None
    method: str | None


@dataclass
class _Manifest:
    content: bytes
    media_type: str
    parsed: dict[str, Any]


@dataclass
class _Repository:
    manifests: dict[str, _Manifest] = field(default_factory=dict)  # by digest, in push order
    tags: dict[str, str] = field(default_factory=dict)
    blobs: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Call:
    handler: _Handler
    method: str
    route: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: bytes

    @property
    def name(self) -> str:
        return self.params.get("name", "")


class _Error(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class OciRegistry(BackgroundServer):
    """The registry state, its switches, and the HTTP server in a background thread."""

    def __init__(
        self,
        *,
        referrers_api: bool = True,
        monolithic_upload: bool = True,
        auth: AuthMode = "none",
        users: dict[str, str] | None = None,
        token_ttl: float = 300.0,
        refresh_token_ttl: float = 3600.0,
        delete_enabled: bool = True,
        referrers_page_size: int | None = None,
        chunked_manifests: bool = False,
    ) -> None:
        self.referrers_api = referrers_api
        self.monolithic_upload = monolithic_upload
        self.auth: AuthMode = auth
        self.users = dict(users or {})
        self.token_ttl = token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.delete_enabled = delete_enabled
        self.referrers_page_size = referrers_page_size
        self.chunked_manifests = chunked_manifests
        #: accepted Entra tokens for /oauth2/exchange (None: any non-empty token)
        self.entra_tokens: set[str] | None = None
        #: repository -> allowed actions for every identity (None: everything allowed)
        self.permissions: dict[str, set[str]] | None = None
        self.tokens = TokenIssuer()
        self._lock = threading.RLock()
        self._repos: dict[str, _Repository] = {}
        self._blobs: dict[str, bytes] = {}
        self._uploads: dict[str, tuple[str, bytearray]] = {}
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []

    # -- lifecycle ------------------------------------------------------------------

    thread_name = "oci-registry"

    def make_server(self) -> LoopbackHTTPServer:
        return LoopbackHTTPServer(_make_handler(self))

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- request log and faults --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def count(self, method: str | None = None, route: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and (route is None or r.route == route)
        )

    def fail_next(
        self,
        status: int | None,
        count: int = 1,
        *,
        retry_after: str | None = None,
        route: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``.

        ``status=None`` drops the connection without an answer (a network failure).
        """
        with self._lock:
            self._faults.append(_Fault(status, count, retry_after, route, method))

    def _take_fault(self, method: str, route: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (
                    fault.remaining > 0
                    and fault.route in (None, route)
                    and fault.method
                    in (
                        None,
                        method,
                    )
                ):
                    fault.remaining -= 1
                    return fault
        return None

    def _record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(entry)

    # -- direct state access for tests ------------------------------------------------

    def repository_names(self) -> list[str]:
        with self._lock:
            return sorted(self._repos)

    def tags(self, repository: str) -> dict[str, str]:
        with self._lock:
            return dict(self._repos.get(repository, _Repository()).tags)

    def manifest(self, repository: str, reference: str) -> tuple[bytes, str] | None:
        """(bytes, media type) of a manifest by tag or digest, or None."""
        with self._lock:
            repo = self._repos.get(repository)
            if repo is None:
                return None
            digest = repo.tags.get(reference, reference)
            stored = repo.manifests.get(digest)
            return None if stored is None else (stored.content, stored.media_type)

    def has_blob(self, repository: str, digest: str) -> bool:
        with self._lock:
            repo = self._repos.get(repository)
            return repo is not None and digest in repo.blobs

    def put_raw_manifest(
        self,
        repository: str,
        reference: str,
        content: bytes,
        media_type: str,
        *,
        digest: str | None = None,
    ) -> str:
        """Store a manifest without any validation (oversize or odd content for client tests).

        ``digest`` stores it under a digest that is not its hash: a corrupt registry.
        """
        digest = digest or sha256(content)
        with self._lock:
            repo = self._repos.setdefault(repository, _Repository())
            try:
                parsed = json.loads(content)
            except ValueError:
                parsed = {}
            repo.manifests[digest] = _Manifest(
                content, media_type, parsed if isinstance(parsed, dict) else {}
            )
            if not _DIGEST_RE.match(reference):
                repo.tags[reference] = digest
        return digest

    # -- auth -------------------------------------------------------------------------

    def _authorize(self, handler: _Handler, name: str | None, action: str) -> None:
        if self.auth == "none":
            return
        header = handler.headers.get("Authorization", "")
        if self.auth == "basic":
            user = _basic_user(header)
            if user is not None and self.users.get(user[0]) == user[1]:
                return
            raise _Error(
                401,
                "UNAUTHORIZED",
                "authentication required",
                {"WWW-Authenticate": 'Basic realm="oci-test"'},
            )
        if header.startswith("Bearer "):
            claims = self.tokens.verify(header[len("Bearer ") :], "access")
            if claims is not None and (name is None or action in granted_actions(claims, name)):
                return
        if self.auth == "bearer":
            challenge = f'Bearer realm="{self.url}{TOKEN}",service="oci-test"'
        else:
            challenge = f'Bearer realm="{self.url}{ACR_TOKEN}",service="{self.host}"'
        if name is not None:
            actions = "pull" if action == "pull" else f"pull,{action}"
            challenge += f',scope="repository:{name}:{actions}"'
        raise _Error(
            401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge}
        )

    def _grant(self, requested: dict[str, list[str]]) -> dict[str, list[str]]:
        if self.permissions is None:
            return requested
        return {
            name: [a for a in actions if a in self.permissions.get(name, set())]
            for name, actions in requested.items()
        }

    def _token_endpoint(self, handler: _Handler, query: dict[str, list[str]]) -> dict[str, Any]:
        if self.auth != "bearer":
            raise _Error(404, "NOT_FOUND", "no token endpoint in this auth mode")
        subject = "anonymous"
        if self.users:
            user = _basic_user(handler.headers.get("Authorization", ""))
            if user is None or self.users.get(user[0]) != user[1]:
                raise _Error(401, "UNAUTHORIZED", "bad credentials")
            subject = user[0]
        if query.get("service", [""])[0] != "oci-test":
            raise _Error(400, "INVALID_SERVICE", "unknown service")
        access = self._grant(parse_scopes(query.get("scope", [])))
        token = self.tokens.issue("access", subject, self.token_ttl, access)
        return {"token": token, "access_token": token, "expires_in": int(self.token_ttl)}

    def _acr_exchange(self, form: dict[str, list[str]]) -> dict[str, Any]:
        if self.auth != "acr":
            raise _Error(404, "NOT_FOUND", "no ACR token exchange in this auth mode")
        if form.get("grant_type", [""])[0] != "access_token":
            raise _Error(400, "UNSUPPORTED_GRANT", "grant_type must be access_token")
        if form.get("service", [""])[0] != self.host:
            raise _Error(400, "INVALID_SERVICE", "service must be the registry host")
        entra = form.get("access_token", [""])[0]
        if not entra or (self.entra_tokens is not None and entra not in self.entra_tokens):
            raise _Error(401, "UNAUTHORIZED", "Entra token rejected")
        return {"refresh_token": self.tokens.issue("refresh", "entra", self.refresh_token_ttl)}

    def _acr_token(self, form: dict[str, list[str]]) -> dict[str, Any]:
        if self.auth != "acr":
            raise _Error(404, "NOT_FOUND", "no ACR token endpoint in this auth mode")
        if form.get("grant_type", [""])[0] != "refresh_token":
            raise _Error(400, "UNSUPPORTED_GRANT", "grant_type must be refresh_token")
        if form.get("service", [""])[0] != self.host:
            raise _Error(400, "INVALID_SERVICE", "service must be the registry host")
        if self.tokens.verify(form.get("refresh_token", [""])[0], "refresh") is None:
            raise _Error(401, "UNAUTHORIZED", "refresh token invalid or expired")
        access = self._grant(parse_scopes(form.get("scope", [])))
        return {"access_token": self.tokens.issue("access", "entra", self.token_ttl, access)}

    # -- distribution API ----------------------------------------------------------------

    def _repo(self, name: str, create: bool = False) -> _Repository:
        repo = self._repos.get(name)
        if repo is None:
            if not create:
                raise _Error(404, "NAME_UNKNOWN", f"repository {name} not known")
            repo = self._repos[name] = _Repository()
        return repo

    def _get_manifest(self, name: str, reference: str) -> tuple[str, _Manifest]:
        with self._lock:
            repo = self._repo(name)
            digest = repo.tags.get(reference, reference)
            stored = repo.manifests.get(digest)
            if stored is None:
                raise _Error(404, "MANIFEST_UNKNOWN", f"manifest {reference} unknown")
            return digest, stored

    def _put_manifest(
        self, name: str, reference: str, body: bytes, content_type: str
    ) -> dict[str, str]:
        digest = sha256(body)
        if ":" in reference and reference != digest:
            raise _Error(400, "DIGEST_INVALID", "manifest digest does not match the reference")
        media_type = content_type.split(";", maxsplit=1)[0].strip()
        parsed = _parse_manifest(body, media_type)
        with self._lock:
            repo = self._repo(name, create=True)
            if media_type in INDEX_TYPES:
                for child in parsed.get("manifests", []):
                    if child.get("digest") not in repo.manifests:
                        raise _Error(400, "MANIFEST_BLOB_UNKNOWN", "index child unknown")
            else:
                for blob in [parsed.get("config", {}), *parsed.get("layers", [])]:
                    if blob.get("digest") not in repo.blobs:
                        raise _Error(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry")
            repo.manifests[digest] = _Manifest(body, media_type, parsed)
            if ":" not in reference:
                repo.tags[reference] = digest
        headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
        subject = parsed.get("subject")
        if self.referrers_api and isinstance(subject, dict) and "digest" in subject:
            headers["OCI-Subject"] = str(subject["digest"])
        return headers

    def _delete_manifest(self, name: str, reference: str) -> None:
        if not self.delete_enabled:
            raise _Error(405, "UNSUPPORTED", "The operation is unsupported.")
        with self._lock:
            repo = self._repo(name)
            digest = repo.tags.get(reference, reference)
            if ":" not in reference:
                if reference not in repo.tags:
                    raise _Error(404, "MANIFEST_UNKNOWN", "tag unknown")
                del repo.tags[reference]
                return
            if repo.manifests.pop(digest, None) is None:
                raise _Error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            for tag in [t for t, d in repo.tags.items() if d == digest]:
                del repo.tags[tag]

    def _referrers(self, name: str, digest: str, artifact_type: str | None) -> list[dict[str, Any]]:
        with self._lock:
            repo = self._repos.get(name, _Repository())
            found = []
            for manifest_digest, stored in repo.manifests.items():
                subject = stored.parsed.get("subject")
                if not isinstance(subject, dict) or subject.get("digest") != digest:
                    continue
                kind = stored.parsed.get("artifactType") or stored.parsed.get("config", {}).get(
                    "mediaType"
                )
                if artifact_type is not None and kind != artifact_type:
                    continue
                entry: dict[str, Any] = {
                    "mediaType": stored.media_type,
                    "digest": manifest_digest,
                    "size": len(stored.content),
                }
                if stored.parsed.get("annotations"):
                    entry["annotations"] = stored.parsed["annotations"]
                if kind:
                    entry["artifactType"] = kind
                found.append(entry)
            return found

    def _store_blob(self, name: str, digest: str, data: bytes) -> None:
        if sha256(data) != digest:
            raise _Error(400, "DIGEST_INVALID", "blob digest does not match its content")
        with self._lock:
            self._blobs[digest] = data
            self._repo(name, create=True).blobs.add(digest)

    def _blob(self, name: str, digest: str) -> bytes:
        with self._lock:
            repo = self._repos.get(name)
            if repo is None or digest not in repo.blobs:
                raise _Error(404, "BLOB_UNKNOWN", f"blob {digest} unknown")
            return self._blobs[digest]

    # -- dispatch -------------------------------------------------------------------------

    def handle(self, handler: _Handler, method: str, body: bytes) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        # registries percent-decode the path (clients such as the Azure SDK send ':' as %3A)
        path = unquote(parts.path)
        route, params = path, {}
        for pattern_name, pattern in _ROUTES:
            match = pattern.match(path)
            if match:
                route, params = pattern_name, match.groupdict()
                break
        auth_scheme = handler.headers.get("Authorization", "none").split(" ")[0].lower()
        # recorded as the answer goes out (not after), so a client never sees a response
        # before the request is in the log
        handler.on_reply = lambda status: self._record(
            RecordedRequest(method, route, handler.path, status, auth_scheme)
        )
        try:
            fault = self._take_fault(method, route)
            if fault is not None:
                if fault.status is None:
                    handler.on_reply(0)
                    handler.close_connection = True
                    return
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                raise _Error(fault.status, "INJECTED", "injected failure", headers)
            self._dispatch(_Call(handler, method, route, params, query, body))
        except _Error as exc:
            if route == REFERRERS and exc.code == "NOT_FOUND":  # as a router without the route
                handler.reply(404, b"404 page not found\n", "text/plain; charset=utf-8")
            else:
                error = {"errors": [{"code": exc.code, "message": exc.message, "detail": None}]}
                handler.reply(
                    exc.status, json.dumps(error).encode(), "application/json", exc.headers
                )

    def _dispatch(self, call: _Call) -> int:
        if call.route in (TOKEN, EXCHANGE, ACR_TOKEN):
            return self._token_route(call)
        action = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(call.method, "push")
        self._authorize(call.handler, call.params.get("name"), action)
        routes = {
            BASE: self._base_route,
            MANIFEST: self._manifest_route,
            BLOB: self._blob_route,
            UPLOADS: self._upload_route,
            UPLOAD: self._upload_route,
            REFERRERS: self._referrers_route,
            TAGS: self._tags_route,
        }
        route = routes.get(call.route)
        if route is None:
            raise _Error(404, "NOT_FOUND", "no such route")
        return route(call)

    def _token_route(self, call: _Call) -> int:
        if call.route == TOKEN and call.method == "GET":
            answer = self._token_endpoint(call.handler, call.query)
        elif call.method == "POST":
            form = parse_qs(call.body.decode(), keep_blank_values=True)
            answer = self._acr_exchange(form) if call.route == EXCHANGE else self._acr_token(form)
        else:
            raise _Error(405, "UNSUPPORTED", "method not allowed")
        call.handler.reply(200, json.dumps(answer).encode(), "application/json")
        return 200

    def _base_route(self, call: _Call) -> int:
        call.handler.reply(200, b"{}", "application/json")
        return 200

    def _blob_route(self, call: _Call) -> int:
        if call.method not in ("GET", "HEAD"):
            raise _Error(405, "UNSUPPORTED", "method not allowed")
        digest = call.params["digest"]
        data = self._blob(call.name, digest)
        call.handler.reply(
            200,
            data,
            "application/octet-stream",
            {"Docker-Content-Digest": digest},
            head=call.method == "HEAD",
        )
        return 200

    def _tags_route(self, call: _Call) -> int:
        if call.method != "GET":
            raise _Error(405, "UNSUPPORTED", "method not allowed")
        with self._lock:
            tags = sorted(self._repo(call.name).tags)
        body = json.dumps({"name": call.name, "tags": tags}).encode()
        call.handler.reply(200, body, "application/json")
        return 200

    def _manifest_route(self, call: _Call) -> int:
        handler, method, name, body = call.handler, call.method, call.name, call.body
        reference = call.params["reference"]
        if method in ("GET", "HEAD"):
            digest, stored = self._get_manifest(name, reference)
            handler.reply(
                200,
                stored.content,
                stored.media_type,
                {"Docker-Content-Digest": digest},
                head=method == "HEAD",
                chunked=self.chunked_manifests,
            )
            return 200
        if method == "PUT":
            headers = self._put_manifest(
                name, reference, body, handler.headers.get("Content-Type", "")
            )
            handler.reply(201, b"", None, headers)
            return 201
        if method == "DELETE":
            self._delete_manifest(name, reference)
            handler.reply(202, b"", None)
            return 202
        raise _Error(405, "UNSUPPORTED", "method not allowed")

    def _upload_route(self, call: _Call) -> int:
        handler, method, name, body = call.handler, call.method, call.name, call.body
        upload_id, query = call.params.get("id"), call.query
        digest = query.get("digest", [None])[0]
        if upload_id is None and method == "POST":
            if digest is not None and self.monolithic_upload:
                self._store_blob(name, digest, body)
                headers = {
                    "Location": f"/v2/{name}/blobs/{digest}",
                    "Docker-Content-Digest": digest,
                }
                handler.reply(201, b"", None, headers)
                return 201
            new_id = str(uuid.uuid4())
            with self._lock:
                self._uploads[new_id] = (name, bytearray())
            headers = {
                "Location": f"/v2/{name}/blobs/uploads/{new_id}?{urlencode({'_state': new_id})}",
                "Docker-Upload-UUID": new_id,
                "Range": "0-0",
            }
            handler.reply(202, b"", None, headers)
            return 202
        with self._lock:
            session = self._uploads.get(upload_id or "")
        if session is None or session[0] != name:
            raise _Error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown")
        if method == "PATCH":
            session[1].extend(body)
            handler.reply(202, b"", None, {"Range": f"0-{len(session[1]) - 1}"})
            return 202
        if method == "PUT":
            if digest is None:
                raise _Error(400, "DIGEST_INVALID", "digest parameter missing")
            session[1].extend(body)
            self._store_blob(name, digest, bytes(session[1]))
            with self._lock:
                self._uploads.pop(upload_id or "", None)
            headers = {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
            handler.reply(201, b"", None, headers)
            return 201
        raise _Error(405, "UNSUPPORTED", "method not allowed")

    def _referrers_route(self, call: _Call) -> int:
        if call.method != "GET":
            raise _Error(405, "UNSUPPORTED", "method not allowed")
        handler, name, digest, query = call.handler, call.name, call.params["digest"], call.query
        if not self.referrers_api:
            raise _Error(404, "NOT_FOUND", "404 page not found")
        if not _DIGEST_RE.match(digest):
            raise _Error(400, "DIGEST_INVALID", "invalid digest")
        artifact_type = query.get("artifactType", [None])[0]
        entries = self._referrers(name, digest, artifact_type)
        headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
        size = self.referrers_page_size
        if size is not None:
            start = int(query.get("page", ["0"])[0])
            if start + size < len(entries):
                next_query = {"page": str(start + size)}
                if artifact_type:
                    next_query["artifactType"] = artifact_type
                headers["Link"] = (
                    f'</v2/{name}/referrers/{digest}?{urlencode(next_query)}>; rel="next"'
                )
            entries = entries[start : start + size]
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        body = json.dumps(index, separators=(",", ":")).encode()
        handler.reply(200, body, OCI_INDEX, headers)
        return 200


def _parse_manifest(body: bytes, media_type: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise _Error(400, "MANIFEST_INVALID", "manifest is not JSON") from None
    if not isinstance(parsed, dict) or parsed.get("schemaVersion") != 2:
        raise _Error(400, "MANIFEST_INVALID", "schemaVersion 2 expected")
    if parsed.get("mediaType") not in (None, media_type):
        raise _Error(400, "MANIFEST_INVALID", "mediaType does not match Content-Type")
    return parsed


def _basic_user(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[len("Basic ") :]).decode().partition(":")
    except ValueError:
        return None
    return user, password


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real registry: counts are per request
    registry: OciRegistry
    on_reply: Callable[[int], None]

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK
        # add ~40 ms to every keep-alive response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is kept in memory."""

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str] | None = None,
        *,
        head: bool = False,
        chunked: bool = False,
    ) -> None:
        self.on_reply(status)
        self.on_reply = _ignore
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if chunked and not head:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in _chunks(body, 64 * 1024):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.registry.handle(self, self.command, body)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815


def _ignore(status: int) -> None:
    """Default reply hook: nothing to record."""


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _make_handler(registry: OciRegistry) -> type[_Handler]:
    return type("BoundHandler", (_Handler,), {"registry": registry})
