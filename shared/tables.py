"""Azure Table storage over its REST API: the five operations the ledger needs, nothing more.

Why not azure-data-tables: measured against Azurite, its pipeline costs 2.1 ms of CPU for
one insert and 7.7 ms for a two-operation transaction; the same requests here cost 0.8 and
1.4 ms. Every signature makes two such calls on its critical path, and the CPU budget for
a whole signature is about 7 ms (issue 11). The wire protocol is the documented one
(https://learn.microsoft.com/rest/api/storageservices/table-service-rest-api), tested
against Azurite: insert, merge, delete, point read, query, and entity group transactions
(``$batch``), with SharedKeyLite (a connection string's account key) or an Entra token
(managed identity) as the SDK sends them, and the HTTP client's hard deadline, proxy and
CA-bundle environment.

Errors: an answer from the service is a ``TableError`` (status and the service's error
code); no answer (or 5xx/429 after the retries) is a ``StorageUnavailableError``
(transient). Messages never quote URLs, keys or tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from functools import lru_cache
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlencode, urlsplit

from azure.core.credentials import TokenCredential

from signer.errors import TransientError
from signer.http import HttpClient, HttpResponse, TransportError

API_VERSION = "2019-02-02"  # the first with Entra ID auth for tables
STORAGE_SCOPE = "https://storage.azure.com/.default"
JSON = "application/json"
NOMETADATA = "application/json;odata=nometadata"
TIMEOUT = 10.0
RETRIES = 3
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_TOKEN_MARGIN = 300.0  # refresh an Entra token this long before it expires

Entity = dict[str, Any]


class StorageUnavailableError(TransientError):
    """Table storage did not answer (or answered 5xx/429): the event is retried rather than
    signed without a lock or a ledger row."""

    code = "storage_unavailable"


class TableError(Exception):
    """The table service answered with an error (``status``, ``code`` such as
    ``EntityAlreadyExists``, and for a failed transaction the index of the operation)."""

    def __init__(self, status: int, code: str, index: int | None = None) -> None:
        super().__init__(f"HTTP {status} {code}".strip())
        self.status = status
        self.code = code
        self.index = index


# --- authentication ------------------------------------------------------------------


class TableAuth(Protocol):
    def headers(self, path: str) -> dict[str, str]:
        """Authorization headers for a request to ``path`` (the URL path, no query)."""
        ...


@lru_cache(maxsize=2)
def _imf_date(second: int) -> str:
    return formatdate(second, usegmt=True)


def http_date() -> str:
    """RFC 9110's IMF-fixdate of now, formatted once a second (every call signs with it)."""
    return _imf_date(int(time.time()))


class SharedKeyLite:
    """The account key from a connection string (Azurite's well-known one locally)."""

    def __init__(self, account: str, key: str) -> None:
        try:
            self._key = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the storage account key is not base64") from None
        self._account = account

    def __repr__(self) -> str:
        return f"SharedKeyLite({self._account!r})"

    def headers(self, path: str) -> dict[str, str]:
        date = http_date()
        # StringToSign for Table SharedKeyLite: Date \n CanonicalizedResource, the resource
        # being /<account><URL path> (the path holds the account again on path-style URLs)
        string = f"{date}\n/{self._account}{path}"
        digest = hmac.new(self._key, string.encode("utf-8"), hashlib.sha256).digest()
        signature = base64.b64encode(digest).decode("ascii")
        return {"x-ms-date": date, "Authorization": f"SharedKeyLite {self._account}:{signature}"}


class EntraToken:
    """A bearer token for Azure Storage from a TokenCredential, kept until near expiry."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EntraToken({type(self._credential).__name__})"

    def headers(self, path: str) -> dict[str, str]:
        token = self._token
        if token is None or time.time() > token[1] - _TOKEN_MARGIN:
            with self._lock:
                token = self._token
                if token is None or time.time() > token[1] - _TOKEN_MARGIN:
                    try:
                        access = self._credential.get_token(STORAGE_SCOPE)
                    except Exception as exc:  # identity endpoint down, no identity, ...
                        raise StorageUnavailableError(
                            f"could not get a token for Azure Storage ({type(exc).__name__})"
                        ) from None
                    token = (access.token, float(access.expires_on))
                    self._token = token
        return {"x-ms-date": http_date(), "Authorization": f"Bearer {token[0]}"}


def parse_connection_string(text: str) -> tuple[str, TableAuth]:
    """``(table endpoint, auth)`` from an Azure Storage connection string."""
    if text.strip() == "UseDevelopmentStorage=true":
        text = (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOt"
            "r/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
        )
    parts = dict(
        item.split("=", 1) for item in text.strip().split(";") if "=" in item
    )  # values may hold '=' (base64 padding): split once
    account, key = parts.get("AccountName"), parts.get("AccountKey")
    if not account or not key:
        raise ValueError("the storage connection string has no AccountName/AccountKey")
    endpoint = parts.get("TableEndpoint")
    if not endpoint:
        protocol = parts.get("DefaultEndpointsProtocol", "https")
        suffix = parts.get("EndpointSuffix", "core.windows.net")
        endpoint = f"{protocol}://{account}.table.{suffix}"
    return endpoint.rstrip("/"), SharedKeyLite(account, key)


# --- entities --------------------------------------------------------------------------


def _encode(entity: Mapping[str, Any]) -> str:
    out: dict[str, Any] = {}
    for name, value in entity.items():
        if isinstance(value, datetime):
            out[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            out[f"{name}@odata.type"] = "Edm.DateTime"
        elif (
            isinstance(value, int) and not isinstance(value, bool) and not -(2**31) <= value < 2**31
        ):
            out[name] = str(value)
            out[f"{name}@odata.type"] = "Edm.Int64"
        else:
            out[name] = value
    return json.dumps(out, ensure_ascii=True, separators=(",", ":"))


def _key(value: str) -> str:
    """A PartitionKey or RowKey inside ``(PartitionKey='...',RowKey='...')``."""
    return quote(value.replace("'", "''"), safe="")


def entity_path(table: str, partition_key: str, row_key: str) -> str:
    return f"{table}(PartitionKey='{_key(partition_key)}',RowKey='{_key(row_key)}')"


@dataclass(frozen=True)
class Operation:
    """One operation of an entity group transaction (all in one partition)."""

    kind: Literal["insert", "merge", "delete"]
    entity: Entity  # PartitionKey and RowKey always; the values for insert and merge
    etag: str = "*"  # merge and delete: If-Match (``*``: whatever the row holds)


@dataclass(frozen=True)
class OperationResult:
    status: int
    etag: str | None


@dataclass
class TableService:
    """One storage account's table endpoint; thread-safe, build once per worker."""

    endpoint: str
    auth: TableAuth
    http: HttpClient = field(default_factory=lambda: HttpClient(timeout=TIMEOUT))
    retries: int = RETRIES
    backoff: float = 0.5

    def __post_init__(self) -> None:
        self._base_path = urlsplit(self.endpoint).path.rstrip("/")

    def table(self, name: str) -> Table:
        return Table(self, name)

    def close(self) -> None:
        self.http.close()

    # --- one request, retried when retrying is safe and useful ------------------------

    def send(
        self,
        method: str,
        resource: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        action: str,
    ) -> HttpResponse:
        """``resource`` is relative to the endpoint (``t1``, ``t1(PartitionKey=...)``).

        Everything here is safe to send again: inserts meet their own row (409) and
        merges and deletes are idempotent; callers decide what such a repeat means.
        """
        path = f"{self._base_path}/{resource}"
        url = f"{self.endpoint}/{resource}" + (f"?{urlencode(query)}" if query else "")
        attempt = 0
        while True:
            all_headers = {
                "x-ms-version": API_VERSION,
                "DataServiceVersion": "3.0;NetFx",
                "MaxDataServiceVersion": "3.0;NetFx",
                "Accept": NOMETADATA,
                **(headers or {}),
                **self.auth.headers(path.split("?", 1)[0]),
            }
            try:
                response = self.http.exchange(method, url, headers=all_headers, body=body)
            except TransportError as exc:
                if not exc.kind.transient or attempt >= self.retries:
                    raise StorageUnavailableError(
                        f"{action}: storage unavailable (no answer: {exc.detail})"
                    ) from None
            else:
                if response.status not in _RETRY_STATUSES:
                    return response
                if attempt >= self.retries:
                    raise StorageUnavailableError(
                        f"{action}: storage unavailable (HTTP {response.status}"
                        f"{_code_suffix(response)})"
                    )
            time.sleep(self.backoff * (2**attempt) * (0.5 + random.random() / 2))  # noqa: S311
            attempt += 1


def _error_code(response: HttpResponse) -> str:
    code = response.headers.get("x-ms-error-code")
    if code:
        return code
    try:
        body = json.loads(response.content)
        return str(body["odata.error"]["code"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return ""


def _code_suffix(response: HttpResponse) -> str:
    code = _error_code(response)
    return f" {code}" if code else ""


@dataclass
class Table:
    service: TableService
    name: str

    def create(self) -> None:
        response = self.service.send(
            "POST",
            "Tables",
            body=json.dumps({"TableName": self.name}).encode(),
            headers={"Content-Type": JSON, "Prefer": "return-no-content"},
            action="create table",
        )
        if response.status not in (201, 204, 409):
            raise TableError(response.status, _error_code(response))

    def insert(self, entity: Entity) -> str | None:
        """Insert one entity; its ETag. TableError 409 EntityAlreadyExists when it exists."""
        response = self.service.send(
            "POST",
            self.name,
            body=_encode(entity).encode(),
            headers={"Content-Type": JSON, "Prefer": "return-no-content"},
            action="write signing ledger",
        )
        if response.status not in (201, 204):
            raise TableError(response.status, _error_code(response))
        return response.headers.get("ETag")

    def merge(self, entity: Entity, etag: str = "*") -> str | None:
        response = self.service.send(
            "MERGE",
            entity_path(self.name, entity["PartitionKey"], entity["RowKey"]),
            body=_encode(entity).encode(),
            headers={"Content-Type": JSON, "If-Match": etag},
            action="write signing ledger",
        )
        if response.status != 204:
            raise TableError(response.status, _error_code(response))
        return response.headers.get("ETag")

    def get(self, partition_key: str, row_key: str) -> tuple[Entity, str | None] | None:
        response = self.service.send(
            "GET",
            entity_path(self.name, partition_key, row_key),
            action="read signing ledger",
        )
        if response.status == 404:
            return None
        if response.status != 200:
            raise TableError(response.status, _error_code(response))
        return _entity(response.content), response.headers.get("ETag")

    def query(self, filter_: str, *, top: int = 1000) -> Iterator[Entity]:
        """Entities matching an OData ``$filter``, page by page (continuation followed)."""
        continuation: dict[str, str] = {}
        while True:
            query = {"$filter": filter_, "$top": str(top), **continuation}
            response = self.service.send(
                "GET", f"{self.name}()", query=query, action="read signing ledger"
            )
            if response.status != 200:
                raise TableError(response.status, _error_code(response))
            try:
                values = json.loads(response.content)["value"]
            except (ValueError, KeyError, TypeError, RecursionError):
                raise TableError(response.status, "MalformedAnswer") from None
            for value in values if isinstance(values, list) else []:
                if isinstance(value, dict):
                    yield value
            partition = response.headers.get("x-ms-continuation-NextPartitionKey")
            row = response.headers.get("x-ms-continuation-NextRowKey")
            if not partition:
                return
            continuation = {"NextPartitionKey": partition, "NextRowKey": row or ""}

    def transaction(self, operations: Sequence[Operation]) -> list[OperationResult]:
        """An entity group transaction: every operation or none (one partition, up to 100).

        TableError with the failed operation's ``index`` when the service refuses one.
        """
        batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
        parts = []
        for operation in operations:
            parts.append(self._part(operation, changeset))
        body = (
            f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
            + "".join(parts)
            + f"--{changeset}--\r\n--{batch}--\r\n"
        ).encode("utf-8")
        response = self.service.send(
            "POST",
            "$batch",
            body=body,
            headers={"Content-Type": f"multipart/mixed; boundary={batch}"},
            action="write signing ledger",
        )
        if response.status != 202:
            raise TableError(response.status, _error_code(response))
        return _batch_results(response, len(operations))

    def _part(self, operation: Operation, changeset: str) -> str:
        entity = operation.entity
        if operation.kind == "insert":
            request = f"POST {self.service.endpoint}/{self.name} HTTP/1.1"
            headers = f"Content-Type: {JSON}\r\nPrefer: return-no-content\r\n"
            payload = _encode(entity)
        else:
            where = entity_path(self.name, entity["PartitionKey"], entity["RowKey"])
            verb = "MERGE" if operation.kind == "merge" else "DELETE"
            request = f"{verb} {self.service.endpoint}/{where} HTTP/1.1"
            headers = f"If-Match: {operation.etag}\r\n"
            payload = ""
            if operation.kind == "merge":
                headers += f"Content-Type: {JSON}\r\n"
                payload = _encode(entity)
        return (
            f"--{changeset}\r\nContent-Type: application/http\r\n"
            "Content-Transfer-Encoding: binary\r\n\r\n"
            f"{request}\r\nAccept: {NOMETADATA}\r\nDataServiceVersion: 3.0;\r\n{headers}\r\n"
            f"{payload}\r\n"
        )


def _entity(content: bytes) -> Entity:
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        raise TableError(200, "MalformedAnswer") from None
    if not isinstance(value, dict):
        raise TableError(200, "MalformedAnswer")
    return value


def _batch_results(response: HttpResponse, count: int) -> list[OperationResult]:
    """The per-operation answers inside a $batch answer (multipart of HTTP messages)."""
    text = response.content.decode("utf-8", "replace")
    results: list[OperationResult] = []
    for block in text.split("HTTP/1.1 ")[1:]:
        status_text, _, rest = block.partition("\r\n")
        try:
            status = int(status_text.split(" ", 1)[0])
        except ValueError:
            raise TableError(202, "MalformedAnswer") from None
        head, _, payload = rest.partition("\r\n\r\n")
        fields = {}
        for line in head.split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        if status >= 300:
            code, index = _batch_error(payload)
            raise TableError(status, code, index)
        results.append(OperationResult(status, fields.get("etag")))
    if len(results) != count:
        raise TableError(202, "MalformedAnswer")
    return results


def _batch_error(payload: str) -> tuple[str, int | None]:
    """Error code and failed operation index (``"1:The specified entity already exists"``)."""
    body = payload.split("\r\n--", 1)[0]
    try:
        error = json.loads(body)["odata.error"]
        code = str(error.get("code", ""))
        message = str(error.get("message", {}).get("value", ""))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return "", None
    index_text = message.split(":", 1)[0]
    return code, int(index_text) if index_text.isascii() and index_text.isdigit() else None
