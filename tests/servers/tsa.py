"""A local RFC 3161 Time-Stamp Authority: Debian's ``openssl ts -reply`` over HTTP.

``POST /`` with ``application/timestamp-query`` answers ``application/timestamp-reply``
(RFC 3161 3.4). Every token is made by OpenSSL 3's TSA (``openssl ts -reply`` with a
``[tsa]`` configuration section); the tokens for broken TSA certificates, which
``openssl ts`` refuses to sign with, are the same TSTInfo signed again by ``openssl cms
-sign -cades`` (which adds the ESS signingCertificateV2 attribute RFC 5816 asks for).

At start the server makes its own PKI under a temporary folder: a root CA and a TSA
certificate with the critical timeStamping extended key usage (``root``, ``root_path``;
with ``intermediate=True`` an issuing CA in between), plus certificates for the faults:
one without the EKU, one with it non-critical, one with a second EKU, an RSA one for
RSA-PSS tokens, and a TSA under a root nobody trusts. Requests are counted and kept
(``requests``, ``queries``, ``replies``).

Faults are queued with ``inject(fault)`` and each is used by one request (``times``):
- HTTP: ``500``, ``503``, ``429`` (with ``retry_after``), ``404``, ``reset`` (TCP RST),
  ``slow`` (nothing for ``seconds``), ``trickle`` (a valid reply, one byte per
  ``seconds``), ``trickle_headers`` (the status line that way), ``garbage`` (200 with
  random bytes), ``html`` (a valid reply labelled text/html), ``oversized`` (300 KiB);
- the answer is for another request: ``wrong_nonce``, ``wrong_imprint``,
  ``drop_policy`` (the TSA's default policy instead of the one asked for);
- the TSA says no: ``rejection`` (badAlg), ``busy`` (timeNotAvailable);
- the token: ``no_eku``, ``noncritical_eku``, ``extra_eku``, ``untrusted``, ``pss``,
  ``tampered`` (its signature altered), ``no_certs`` (no certificates in it),
  ``revocable`` (a TSA certificate naming a CRL at ``crl_url``, where nothing listens).
``reply_for(query, fault)`` runs the same pipeline without HTTP, for tests that need a
broken token as bytes.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.servers.loopback import BackgroundServer, FaultyHandler, LoopbackHTTPServer
from tests.verifier import pki

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
POLICY = "1.2.3.4.1"
OTHER_POLICY = "1.2.3.4.2"
TST_INFO = "1.2.840.113549.1.9.16.1.4"

TsaFault = Literal[
    "500",
    "503",
    "429",
    "404",
    "reset",
    "slow",
    "trickle",
    "trickle_headers",
    "garbage",
    "html",
    "oversized",
    "wrong_nonce",
    "wrong_imprint",
    "drop_policy",
    "rejection",
    "busy",
    "no_eku",
    "noncritical_eku",
    "extra_eku",
    "untrusted",
    "pss",
    "tampered",
    "no_certs",
    "revocable",
]
# faults whose token is the good TSTInfo signed again by another certificate
_RESIGNED = ("no_eku", "noncritical_eku", "extra_eku", "pss", "revocable")
# faults of the HTTP exchange around a good reply
_AROUND_REPLY = ("slow", "trickle", "trickle_headers", "html")
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class _TimeStampResp(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _key(kind: str) -> PrivateKey:
    key = pki.key(kind)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"a TSA key must be RSA or EC, not {kind}")
    return key


def refused_url() -> str:
    """A loopback URL nothing listens on: a TSA that is down (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def _key_pem(path: Path, key: PrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acr-notary-signer tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_root(
    key: PrivateKey,
    cn: str,
    *,
    days: int = 3,
    signer: tuple[x509.Certificate, PrivateKey] | None = None,
) -> x509.Certificate:
    """A CA certificate: self-signed, or issued by ``signer`` (certificate, key)."""
    now = datetime.now(UTC)
    name = _name(cn)
    issuer_name, issuer_key = (signer[0].subject, signer[1]) if signer else (name, key)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(issuer_key, hashes.SHA256())
    )


def make_tsa_certificate(
    key: PrivateKey,
    cn: str,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    *,
    ekus: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.TIME_STAMPING,),
    eku_critical: bool = True,
    days: int = 2,
    crl_url: str | None = None,
) -> x509.Certificate:
    """A TSA certificate; the defaults are what RFC 3161 2.3 and notation require."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=30))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
    )
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=eku_critical)
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class TsaIdentity:
    """A signing certificate with its key and the chain a token should carry."""

    cert: x509.Certificate
    cert_path: Path
    key_path: Path
    chain_path: Path  # certificates added to the token besides the signer's (the root)


@dataclass
class _Pending:
    fault: TsaFault
    times: int
    retry_after: int
    seconds: float


class TsaServer(BackgroundServer):
    """``with TsaServer() as tsa: Timestamper(tsa.url, [tsa.root])``."""

    thread_name = "tsa-server"

    def __init__(
        self,
        *,
        key: str = "rsa2048",
        signer_digest: str = "sha256",
        accuracy: str | None = "secs:1",
        intermediate: bool = False,
        workdir: Path | None = None,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="tsa-") if workdir is None else None
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.signer_digest = signer_digest
        self.requests = 0
        self.queries: list[bytes] = []
        self.replies: list[bytes] = []  # the TimeStampResp bodies sent with status 200
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()
        self._openssl = threading.Lock()  # openssl ts rewrites its serial file
        self.crl_url = refused_url() + "tsa.crl"  # revocation status: unknown

        root_key = _key("p384")
        self.root = make_root(root_key, "Test TSA Root")
        self.root_path = _pem(self.workdir / "tsa-root.pem", self.root)
        # who issues the TSA certificates, nearest first, and the key that signs them
        issuers: tuple[x509.Certificate, ...] = (self.root,)
        issuer_key = root_key
        if intermediate:
            issuer_key = _key("p256")
            issuers = (make_root(issuer_key, "Test TSA Issuing CA", signer=(self.root, root_key)),
                       self.root)  # fmt: skip
        tsa_key = _key(key)

        def identity(label: str, cn: str, **options: Any) -> TsaIdentity:
            return self._identity(label, tsa_key, cn, issuers, issuer_key, **options)

        self.identity = identity("good", "Test TSA")
        self.bad: dict[str, TsaIdentity] = {
            "no_eku": identity("no-eku", "TSA without EKU", ekus=None),
            "noncritical_eku": identity(
                "noncritical", "TSA with non-critical EKU", eku_critical=False
            ),
            "extra_eku": identity(
                "extra-eku",
                "TSA with two EKUs",
                ekus=(ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING),
            ),
            "pss": self._identity(
                "pss", _key("rsa2048"), "Test TSA (RSA-PSS)", issuers, issuer_key
            ),
            "revocable": identity("revocable", "TSA with a CRL", crl_url=self.crl_url),
        }
        other_root_key = _key("p256")
        self.other_root = make_root(other_root_key, "Untrusted TSA Root")
        self.untrusted = self._identity(
            "untrusted", tsa_key, "Untrusted TSA", (self.other_root,), other_root_key
        )
        self._config = self._write_config(accuracy)

    # --- PKI and openssl configuration --------------------------------------------------------

    def _identity(
        self,
        label: str,
        key: PrivateKey,
        cn: str,
        issuers: Sequence[x509.Certificate],
        issuer_key: PrivateKey,
        **options: Any,
    ) -> TsaIdentity:
        cert = make_tsa_certificate(key, cn, issuers[0], issuer_key, **options)
        return TsaIdentity(
            cert=cert,
            cert_path=_pem(self.workdir / f"{label}.pem", cert),
            key_path=_key_pem(self.workdir / f"{label}.key", key),
            chain_path=_pem(self.workdir / f"{label}-chain.pem", *issuers),
        )

    def _write_config(self, accuracy: str | None) -> Path:
        sections = []
        for name, identity in (("tsa_good", self.identity), ("tsa_untrusted", self.untrusted)):
            serial = self.workdir / f"{name}.serial"
            serial.write_text("01\n")
            lines = [
                f"[ {name} ]",
                f"serial = {serial}",
                "crypto_device = builtin",
                f"signer_cert = {identity.cert_path}",
                f"certs = {identity.chain_path}",
                f"signer_key = {identity.key_path}",
                f"signer_digest = {self.signer_digest}",
                f"default_policy = {POLICY}",
                f"other_policies = {OTHER_POLICY}",
                "digests = sha256, sha384, sha512",
                "clock_precision_digits = 0",
                "ordering = no",
                "tsa_name = yes",
                "ess_cert_id_chain = no",
                "ess_cert_id_alg = sha256",
            ]
            if accuracy:
                lines.append(f"accuracy = {accuracy}")
            sections.append("\n".join(lines))
        path = self.workdir / "openssl-tsa.cnf"
        path.write_text("[ tsa ]\ndefault_tsa = tsa_good\n\n" + "\n\n".join(sections) + "\n")
        return path

    # --- lifecycle ----------------------------------------------------------------------------

    def make_server(self) -> LoopbackHTTPServer:
        handler = type("Handler", (_Handler,), {"tsa": self})
        return LoopbackHTTPServer(handler, quiet=True)

    def after_stop(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.host}/"

    # --- faults -------------------------------------------------------------------------------

    def inject(
        self, fault: TsaFault, *, times: int = 1, retry_after: int = 1, seconds: float = 0.5
    ) -> None:
        with self._lock:
            self._pending.append(_Pending(fault, times, retry_after, seconds))

    def _next_fault(self) -> _Pending | None:
        with self._lock:
            if not self._pending:
                return None
            pending = self._pending[0]
            pending.times -= 1
            if pending.times <= 0:
                self._pending.pop(0)
            return pending

    def _record(self, query: bytes) -> None:
        with self._lock:
            self.requests += 1
            self.queries.append(query)

    # --- making replies -----------------------------------------------------------------------

    def _openssl_reply(self, query: bytes, section: str = "tsa_good") -> bytes:
        with self._openssl:
            stem = self.workdir / f"q-{secrets.token_hex(6)}"
            query_path, reply_path = stem.with_suffix(".tsq"), stem.with_suffix(".tsr")
            query_path.write_bytes(query)
            subprocess.run(
                ["openssl", "ts", "-reply", "-config", str(self._config), "-section", section,
                 "-queryfile", str(query_path), "-out", str(reply_path)],
                check=True, capture_output=True, timeout=30,
            )  # fmt: skip
            reply = reply_path.read_bytes()
            query_path.unlink()
            reply_path.unlink()
            return reply

    def _resign(self, reply: bytes, identity: TsaIdentity, *, pss: bool) -> bytes:
        """The reply's TSTInfo signed again by ``identity`` with ``openssl cms``."""
        token = _TimeStampResp.load(reply)["time_stamp_token"]
        tst_info = bytes(token["content"]["encap_content_info"]["content"])
        stem = self.workdir / f"r-{secrets.token_hex(6)}"
        tst_path, out_path = stem.with_suffix(".tst"), stem.with_suffix(".p7")
        tst_path.write_bytes(tst_info)
        argv = ["openssl", "cms", "-sign", "-binary", "-nodetach", "-cades", "-nosmimecap",
                "-econtent_type", TST_INFO, "-in", str(tst_path), "-signer",
                str(identity.cert_path), "-inkey", str(identity.key_path), "-certfile",
                str(identity.chain_path), "-md", self.signer_digest, "-outform", "DER",
                "-out", str(out_path)]  # fmt: skip
        if pss:
            argv += ["-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:-1"]
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
        signed = out_path.read_bytes()
        tst_path.unlink()
        out_path.unlink()
        return _response(cms.ContentInfo.load(signed))

    def reply_for(self, query: bytes, fault: TsaFault | None = None) -> bytes:
        """The TimeStampResp this TSA sends for ``query`` under ``fault`` (token faults)."""
        if fault in ("rejection", "busy"):
            failure = "bad_alg" if fault == "rejection" else "time_not_available"
            return bytes(
                _TimeStampResp({"status": {"status": "rejection", "fail_info": {failure}}}).dump()
            )
        if fault in ("wrong_nonce", "wrong_imprint", "drop_policy"):
            query = _altered_query(query, fault)
        if fault == "untrusted":
            return self._openssl_reply(query, "tsa_untrusted")
        reply = self._openssl_reply(query)
        if fault in _RESIGNED:
            return self._resign(reply, self.bad[fault], pss=fault == "pss")
        if fault in ("tampered", "no_certs"):
            return _altered_token(reply, fault)
        return reply


def _response(token: Any) -> bytes:
    return bytes(
        _TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()
    )


def _altered_query(query: bytes, fault: str) -> bytes:
    request = tsp.TimeStampReq.load(query)
    fields = {
        "version": "v1",
        "message_imprint": request["message_imprint"].copy(),
        "nonce": request["nonce"].native,
        "cert_req": request["cert_req"].native,
    }
    if fault == "wrong_nonce":
        fields["nonce"] = (request["nonce"].native or 0) + 1
    if fault == "wrong_imprint":
        algorithm = request["message_imprint"]["hash_algorithm"]["algorithm"].native
        size = len(request["message_imprint"]["hashed_message"].native)
        fields["message_imprint"] = {
            "hash_algorithm": {"algorithm": algorithm},
            "hashed_message": secrets.token_bytes(size),
        }
    if fault != "drop_policy" and not isinstance(request["req_policy"], core.Void):
        fields["req_policy"] = request["req_policy"].dotted
    return bytes(tsp.TimeStampReq(fields).dump())


def _altered_token(reply: bytes, fault: str) -> bytes:
    token = _TimeStampResp.load(reply)["time_stamp_token"].copy()
    signed_data = token["content"]
    if fault == "tampered":
        signer_info = signed_data["signer_infos"][0]
        signature = bytearray(signer_info["signature"].native)
        signature[len(signature) // 2] ^= 0x01
        signer_info["signature"] = bytes(signature)
    else:
        signed_data["certificates"] = None
    return _response(token)


class _Handler(FaultyHandler):
    tsa: TsaServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        length = int(self.headers.get("Content-Length") or 0)
        query = self.rfile.read(length)
        self.tsa._record(query)
        pending = self.tsa._next_fault()
        fault = pending.fault if pending else None
        if self.headers.get("Content-Type") != QUERY_TYPE:
            self._send(415, b"", "text/plain")
            return
        if fault == "reset":
            self.reset_connection()
            return
        if fault in ("500", "503", "404"):
            self._send(int(fault), b"TSA failure\n", "text/plain")
            return
        if fault == "429" and pending is not None:
            self._send(429, b"slow down\n", "text/plain", {"Retry-After": str(pending.retry_after)})
            return
        if fault == "slow" and pending is not None:
            time.sleep(pending.seconds)
        if fault == "garbage":
            self._send(200, secrets.token_bytes(200), REPLY_TYPE)
            return
        if fault == "oversized":
            self._send(200, b"\x30" + b"\x00" * (300 * 1024), REPLY_TYPE)
            return
        reply = self.tsa.reply_for(query, None if fault in _AROUND_REPLY else fault)
        with self.tsa._lock:
            self.tsa.replies.append(reply)
        if fault == "html":
            self._send(200, reply, "text/html")
        elif fault in ("trickle", "trickle_headers") and pending is not None:
            self._trickle(reply, pending.seconds, headers_too=fault == "trickle_headers")
        else:
            self._send(200, reply, REPLY_TYPE)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, body: bytes, seconds: float, *, headers_too: bool) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {REPLY_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        data = head + body
        start = 0 if headers_too else len(head)
        try:
            self.wfile.write(data[:start])
            self.wfile.flush()
            for i in range(start, len(data)):
                time.sleep(seconds)
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
        except OSError:
            pass  # the client gave up, as it should
        self.close_connection = True
