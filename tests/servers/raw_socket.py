"""A raw socket server on loopback, for tests that need a peer to write exactly what it
wants, byte for byte (what a well-behaved HTTP server never produces), optionally over
TLS with a throwaway certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Script = Callable[[socket.socket, int], None]  # (connection, its index)


def answer(body: bytes = b"ok", *, extra: bytes = b"", close: bool = False) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body + extra


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data


class RawServer:
    """Accepts connections on loopback and runs ``script`` on each, in its own thread."""

    def __init__(
        self, script: Script, wrap: Callable[[socket.socket], ssl.SSLSocket] | None = None
    ) -> None:
        self.script = script
        self.wrap = wrap
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{'http' if self.wrap is None else 'https'}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            index, self.accepted = self.accepted, self.accepted + 1
            threading.Thread(target=self._run, args=(conn, index), daemon=True).start()

    def _run(self, conn: socket.socket, index: int) -> None:
        with conn, suppress(OSError):
            self.script(conn if self.wrap is None else self.wrap(conn), index)

    def close(self) -> None:
        self._stop = True
        self.listener.close()


def tls_files(folder: Path, *, san: bool = True, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for 127.0.0.1 and ``name``; with ``san``
    False the name is only in the subject's CN (which verifiers must not accept)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if san:
        names = [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    cert_file, key_file = folder / f"{name}-{int(san)}.pem", folder / f"{name}-{int(san)}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def tls_wrapper(cert_file: Path, key_file: Path) -> Callable[[socket.socket], ssl.SSLSocket]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return lambda conn: context.wrap_socket(conn, server_side=True)
