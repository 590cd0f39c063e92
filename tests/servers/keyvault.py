"""A local Azure Key Vault: the REST subset a Notary signer uses, over real HTTPS.

No Key Vault emulator exists and azure-keyvault-keys refuses plain http, so this server
makes a throwaway CA and a server certificate for 127.0.0.1 at start and writes the CA to
``ca_file``; SDK clients take ``connection_verify=ca_file, verify_challenge_resource=False``.

Faithful where the SDK and the signer can tell: a request without a bearer token draws
401 + ``WWW-Authenticate: Bearer authorization=..., resource="https://vault.azure.net"``;
``api-version`` is required; ``GET /keys/{n}[/{v}]`` returns the public JWK;
``POST /keys/{n}/{v}/sign`` really signs the digest (PS* with salt = hash length, ES* as
raw r||s) and answers ``{"kid", "value"}``; ``GET /certificates/{n}[/{v}]`` returns ``cer``,
``kid``, ``sid``, ``x5t``; ``GET /secrets/{n}[/{v}]`` returns the chain as PEM or base64
PKCS#12 with its content type. A certificate-backed key, its certificate and its secret
share name and version, as in Key Vault. Operations are counted; faults can be injected.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.servers.loopback import (
    BackgroundServer,
    FaultyHandler,
    LoopbackHTTPServer,
    server_tls_context,
)

VAULT_RESOURCE = "https://vault.azure.net"
DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
STATIC_TOKEN = "keyvault-test-token"  # accepted when no token validator is given

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
SecretFormat = Literal["pem", "pkcs12"]
Operation = Literal["get_key", "sign", "get_certificate", "get_secret"]
Fault = Literal[
    "throttle",
    "500",
    "503",
    "reset",
    "delay",
    "wrong_kid",
    "wrong_alg",
    "wrong_alg_silent",
    "garbage_value",  # 200 whose value is not base64url
    "hostile_code",  # 400 whose error code is a log-injection attempt
]
PERMISSIONS = {
    "get_key": "keys/get",
    "sign": "keys/sign",
    "get_certificate": "certificates/get",
    "get_secret": "secrets/get",
}

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_EC_CRV = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(value: int, size: int | None = None) -> bytes:
    return value.to_bytes(size or (value.bit_length() + 7) // 8, "big")


@dataclass
class _Version:
    version: str
    key: PrivateKey
    chain: list[x509.Certificate] | None  # None: a plain key without a certificate
    secret_format: SecretFormat
    secret_root_first: bool
    secret_with_key: bool
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class _PendingFault:
    fault: Fault
    retry_after: int = 1
    seconds: float = 0.0


class _ResetConnectionError(Exception):
    """Raised inside a handler to drop the connection with a TCP reset."""


class KeyVaultServer(BackgroundServer):
    def __init__(
        self,
        *,
        accept_token: Callable[[str], bool] | None = None,
        tenant_id: str = DEFAULT_TENANT,
        workdir: str | Path | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self._accept = accept_token or (lambda t: secrets.compare_digest(t, STATIC_TOKEN))
        self._tmp = tempfile.TemporaryDirectory(prefix="kv-server-") if workdir is None else None
        self.workdir = Path(workdir) if workdir is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.counts: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []  # (method, path, status)
        self.denied: set[str] = set()  # permissions like "keys/sign" answered with 403
        self._objects: dict[str, list[_Version]] = {}
        self._faults: dict[str, list[_PendingFault]] = {}
        self._lock = threading.Lock()
        self.ca_file = self.workdir / "kv-ca.pem"

    # --- lifecycle -------------------------------------------------------------------------

    thread_name = "keyvault-server"

    def make_server(self) -> LoopbackHTTPServer:
        context = server_tls_context(self.workdir, self.ca_file)
        handler = type("Handler", (_Handler,), {"vault": self})
        return LoopbackHTTPServer(handler, context=context, quiet=True)  # resets are tests

    def after_stop(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments that make Azure SDK clients trust and talk to this server."""
        return {"connection_verify": str(self.ca_file), "verify_challenge_resource": False}

    # --- vault contents --------------------------------------------------------------------

    def add_certificate(
        self,
        name: str,
        key: PrivateKey,
        chain: Sequence[x509.Certificate],
        *,
        secret_format: SecretFormat = "pem",  # noqa: S107 - a format name
        secret_root_first: bool = False,
        secret_with_key: bool = True,
        version: str | None = None,
    ) -> str:
        """Add a new version of a certificate-backed key (key + certificate + secret)."""
        return self._add(
            name, _Version(version or secrets.token_hex(16), key, list(chain), secret_format,
                           secret_root_first, secret_with_key)
        )  # fmt: skip

    def add_key(self, name: str, key: PrivateKey, *, version: str | None = None) -> str:
        """Add a key version that has no certificate (as ``az keyvault key create`` makes)."""
        return self._add(
            name, _Version(version or secrets.token_hex(16), key, None, "pem", False, False)
        )

    def _add(self, name: str, entry: _Version) -> str:
        with self._lock:
            self._objects.setdefault(name.lower(), []).append(entry)
        return entry.version

    def key_id(self, name: str, version: str | None = None) -> str:
        return f"{self.url}/keys/{name}" + (f"/{version}" if version else "")

    def certificate_id(self, name: str, version: str | None = None) -> str:
        return f"{self.url}/certificates/{name}" + (f"/{version}" if version else "")

    # --- knobs and counters ------------------------------------------------------------------

    def inject(
        self,
        operation: Operation,
        fault: Fault,
        *,
        times: int = 1,
        retry_after: int = 1,
        seconds: float = 0.0,
    ) -> None:
        """Make the next ``times`` authenticated ``operation`` requests fail this way."""
        with self._lock:
            pending = self._faults.setdefault(operation, [])
            pending.extend(_PendingFault(fault, retry_after, seconds) for _ in range(times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.log.clear()

    def count(self, operation: str) -> int:
        with self._lock:
            return self.counts[operation]

    # --- request handling (called from handler threads) ------------------------------------

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))

    def _bump(self, operation: str) -> _PendingFault | None:
        with self._lock:
            self.counts[operation] += 1
            pending = self._faults.get(operation)
            return pending.pop(0) if pending else None

    def _lookup(self, name: str, version: str | None) -> _Version | None:
        with self._lock:
            versions = self._objects.get(name.lower(), [])
            if not version:
                return versions[-1] if versions else None
            return next((v for v in versions if v.version == version), None)

    def _attributes(self, entry: _Version) -> dict[str, Any]:
        return {
            "enabled": True,
            "created": entry.created,
            "updated": entry.created,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        }

    def key_bundle(self, name: str, entry: _Version) -> dict[str, Any]:
        jwk: dict[str, Any] = {"kid": f"{self.url}/keys/{name}/{entry.version}"}
        public = entry.key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            jwk.update(kty="RSA", n=b64url(_int_bytes(numbers.n)), e=b64url(_int_bytes(numbers.e)))
        else:
            numbers_ec = public.public_numbers()
            size = (public.curve.key_size + 7) // 8
            jwk.update(
                kty="EC",
                crv=_EC_CRV[public.curve.name],
                x=b64url(_int_bytes(numbers_ec.x, size)),
                y=b64url(_int_bytes(numbers_ec.y, size)),
            )
        jwk["key_ops"] = ["sign", "verify"]
        bundle: dict[str, Any] = {
            "key": jwk,
            "attributes": self._attributes(entry) | {"exportable": False},
        }
        if entry.chain is not None:
            bundle["managed"] = True  # backed by a certificate
        return bundle

    def certificate_bundle(self, name: str, entry: _Version) -> dict[str, Any]:
        assert entry.chain is not None
        der = entry.chain[0].public_bytes(serialization.Encoding.DER)
        return {
            "id": f"{self.url}/certificates/{name}/{entry.version}",
            "kid": f"{self.url}/keys/{name}/{entry.version}",
            "sid": f"{self.url}/secrets/{name}/{entry.version}",
            "x5t": b64url(hashlib.sha1(der).digest()),  # noqa: S324 - x5t is SHA-1 by definition
            "cer": base64.b64encode(der).decode(),
            "attributes": self._attributes(entry),
        }

    def secret_bundle(self, name: str, entry: _Version) -> dict[str, Any]:
        assert entry.chain is not None
        certs = list(reversed(entry.chain)) if entry.secret_root_first else list(entry.chain)
        if entry.secret_format == "pem":
            parts: list[bytes] = []
            if entry.secret_with_key:
                parts.append(
                    entry.key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
            parts += [c.public_bytes(serialization.Encoding.PEM) for c in certs]
            value, content_type = b"".join(parts).decode(), "application/x-pem-file"
        else:
            leaf, others = entry.chain[0], [c for c in certs if c is not entry.chain[0]]
            p12 = pkcs12.serialize_key_and_certificates(
                name.encode(),
                entry.key if entry.secret_with_key else None,
                leaf,
                others or None,
                serialization.NoEncryption(),
            )
            value, content_type = base64.b64encode(p12).decode(), "application/x-pkcs12"
        return {
            "value": value,
            "contentType": content_type,
            "id": f"{self.url}/secrets/{name}/{entry.version}",
            "kid": f"{self.url}/keys/{name}/{entry.version}",
            "managed": True,
            "attributes": self._attributes(entry),
        }

    def sign_answer(
        self, name: str, entry: _Version, body: dict[str, Any], fault: _PendingFault | None
    ) -> tuple[int, dict[str, Any]]:
        alg, value = body.get("alg"), body.get("value")
        if not isinstance(alg, str) or not isinstance(value, str):
            return 400, _error("BadParameter", "alg and value are required")
        digest = b64url_decode(value)
        problem = _check_alg(entry.key, alg, digest)
        if problem:
            return 400, _error("BadParameter", problem)
        kid = f"{self.url}/keys/{name}/{entry.version}"
        answer: dict[str, Any] = {"kid": kid}
        used = alg
        if fault is not None and fault.fault in ("wrong_alg", "wrong_alg_silent"):
            used = _other_alg(alg)
            if fault.fault == "wrong_alg":
                answer["alg"] = used
        if fault is not None and fault.fault == "wrong_kid":
            answer["kid"] = f"{self.url}/keys/{name}/{'0' * 32}"
        answer["value"] = b64url(_sign(entry.key, used, digest))
        if fault is not None and fault.fault == "garbage_value":
            answer["value"] = "not*base64"
        return 200, answer


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _check_alg(key: PrivateKey, alg: str, digest: bytes) -> str | None:
    if isinstance(key, rsa.RSAPrivateKey):
        if alg[:2] not in ("PS", "RS") or alg[2:] not in _HASHES:
            return f"algorithm {alg} is not valid for an RSA key"
    elif alg != _EC_ALG[key.curve.name]:
        return f"algorithm {alg} is not valid for curve {_EC_CRV[key.curve.name]}"
    if len(digest) != _HASHES[alg[2:]]().digest_size:
        return f"Invalid length of 'value': {len(digest)}"
    return None


def _other_alg(alg: str) -> str:
    """Another algorithm of the same family: the signature it makes must not verify."""
    others = {"PS": "RS", "RS": "PS"}
    if alg[:2] in others:
        return others[alg[:2]] + alg[2:]
    cycle = ["ES256", "ES384", "ES512"]
    return cycle[(cycle.index(alg) + 1) % 3]


def _sign(key: PrivateKey, alg: str, digest: bytes) -> bytes:
    hash_alg = _HASHES[alg[2:]]()
    if isinstance(key, rsa.RSAPrivateKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
            if alg.startswith("PS")
            else padding.PKCS1v15()
        )
        return key.sign(digest, pad, utils.Prehashed(hash_alg))
    size = (key.curve.key_size + 7) // 8
    if alg == _EC_ALG[key.curve.name]:
        der = key.sign(digest, ec.ECDSA(utils.Prehashed(hash_alg)))
    else:  # an injected wrong algorithm: sign another hash of the digest
        der = key.sign(digest, ec.ECDSA(hash_alg))
    r, s = utils.decode_dss_signature(der)
    return _int_bytes(r, size) + _int_bytes(s, size)


class _Handler(FaultyHandler):
    vault: KeyVaultServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        try:
            status, body, headers = self._route(method, parts.path, parse_qs(parts.query), raw)
        except _ResetConnectionError:
            self.reset_connection()
            return
        self.vault._record(method, parts.path, status)
        self._send(status, body, headers)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        vault = self.vault
        if not query.get("api-version"):
            return 400, _error("BadParameter", "api-version is required"), {}
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if not token or not vault._accept(token):
            vault._bump("challenge")
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{vault.tenant_id}", '
                f'resource="{VAULT_RESOURCE}"'
            )
            message = "Request is missing a Bearer or PoP token." if not token else "AKV10032"
            return 401, _error("Unauthorized", message), {"WWW-Authenticate": challenge}
        route = _match(method, [s for s in path.split("/") if s != ""])
        if route is None:
            return 404, _error("NotFound", "no such operation"), {}
        return self._operation(*route, raw)

    def _operation(
        self, operation: Operation, name: str, version: str | None, raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        vault = self.vault
        fault = vault._bump(operation)
        if PERMISSIONS[operation] in vault.denied:
            return 403, _forbidden(PERMISSIONS[operation]), {}
        early = _status_fault(fault) if fault is not None else None
        if early is not None:
            return early
        entry = vault._lookup(name, version)
        if entry is None or (operation not in ("get_key", "sign") and not entry.chain):
            kind = {"get_certificate": "certificate", "get_secret": "secret"}.get(operation, "key")
            return 404, _error(f"{kind.capitalize()}NotFound", f"{kind} {name} not found"), {}
        bundles = {
            "get_key": vault.key_bundle,
            "get_certificate": vault.certificate_bundle,
            "get_secret": vault.secret_bundle,
        }
        if operation in bundles:
            return 200, bundles[operation](name, entry), {}
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, _error("BadParameter", "body is not JSON"), {}
        status, answer = vault.sign_answer(name, entry, body, fault)
        return status, answer, {}

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-keyvault-service-version", "1.9.0.0")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def _match(method: str, segments: list[str]) -> tuple[Operation, str, str | None] | None:
    if method == "GET" and len(segments) in (2, 3):
        kind = {"keys": "get_key", "certificates": "get_certificate", "secrets": "get_secret"}
        op = kind.get(segments[0])
        if op is not None:
            return op, segments[1], segments[2] if len(segments) == 3 else None  # type: ignore[return-value]
    if (
        method == "POST"
        and len(segments) in (3, 4)
        and segments[0:1] + segments[-1:]
        == [
            "keys",
            "sign",
        ]
    ):
        return "sign", segments[1], segments[2] if len(segments) == 4 else None
    return None


def _status_fault(fault: _PendingFault) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    if fault.fault == "throttle":
        message = "Request was not processed because too many requests were received."
        return 429, _error("Throttled", message), {"Retry-After": str(fault.retry_after)}
    if fault.fault in ("500", "503"):
        code = "InternalServerError" if fault.fault == "500" else "ServiceUnavailable"
        return int(fault.fault), _error(code, "injected"), {}
    if fault.fault == "reset":
        raise _ResetConnectionError
    if fault.fault == "delay":
        time.sleep(fault.seconds)
    if fault.fault == "hostile_code":
        return 400, _error("Bad\nrequest 200 OK: signed " + "x" * 500, "injected"), {}
    return None


def _forbidden(permission: str) -> dict[str, Any]:
    kind, action = permission.split("/")
    message = (
        f"The user, group or application does not have {kind} {action} permission on key "
        "vault; Caller is not authorized to perform action on resource."
    )
    return {"error": {"code": "Forbidden", "message": message,
                      "innererror": {"code": "ForbiddenByRbac"}}}  # fmt: skip


@contextmanager
def running_keyvault_server(**kwargs: Any) -> Iterator[KeyVaultServer]:
    server = KeyVaultServer(**kwargs)
    with server:
        yield server
