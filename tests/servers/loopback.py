"""The lifecycle every local test server shares: a ThreadingHTTPServer on a free
127.0.0.1 port, served from a daemon thread, optionally over TLS with a fresh CA.

Used by the Key Vault, managed-identity and OCI registry test servers and the fault proxy.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import struct
import threading
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Tracks live connections so ``drop_connections`` ends their handler threads at stop.

    With a ``context`` every connection is wrapped in TLS in its own thread (a slow
    handshake blocks no one). ``quiet``: connection resets and aborted handshakes are
    what the server is for, so their tracebacks are not printed.
    """

    daemon_threads = True

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        context: ssl.SSLContext | None = None,
        quiet: bool = False,
    ) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.context = context
        self.quiet = quiet
        self._live: set[socket.socket] = set()
        self._live_lock = threading.Lock()

    def drop_connections(self) -> None:
        """Close kept-alive client connections, so their handler threads end with the server."""
        with self._live_lock:
            live, self._live = self._live, set()
        for sock in live:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.context is not None:
            try:
                request = self.context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        with self._live_lock:
            self._live.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._live_lock:
                self._live.discard(request)
            with suppress(OSError):
                request.close()  # the TLS wrapper, which socketserver does not know of

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.quiet:
            super().handle_error(request, client_address)


class FaultyHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing (the servers record what tests look at) and can
    answer with a TCP reset; a client that hung up first does not end in a traceback."""

    # headers and body go out as two writes: without TCP_NODELAY the body waits for the
    # ACK of the headers, which a client on a kept-alive connection delays by up to 40 ms
    # (what real servers avoid the same way)
    disable_nagle_algorithm = True

    def reset_connection(self) -> None:
        # SO_LINGER 0 turns close() into a TCP RST: the client sees "connection reset"
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        raw = socket.socket(fileno=self.connection.detach())
        raw.close()

    def finish(self) -> None:
        with suppress(OSError, ValueError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class BackgroundServer:
    """``start()`` serves in a daemon thread, ``stop()`` ends it; also a context manager.

    A subclass builds its server in ``make_server`` and may clean up in ``after_stop``.
    """

    thread_name = "test-server"
    _server: LoopbackHTTPServer | None = None
    _thread: threading.Thread | None = None

    def make_server(self) -> LoopbackHTTPServer:
        raise NotImplementedError

    def after_stop(self) -> None:
        return None

    def start(self) -> Self:
        self._server = self.make_server()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.after_stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.thread_name} not started")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


def server_tls_context(workdir: Path, ca_file: Path, *, san: bool = True) -> ssl.SSLContext:
    """A fresh CA and a 127.0.0.1 server certificate; the CA goes to ``ca_file``.

    ``san`` False: a certificate that names ``localhost`` only in its subject's CN, with
    no subjectAltName, which a verifier must refuse (RFC 6125, Go, urllib3, browsers)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1" if san else "localhost")]
            )
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if san:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = (
        builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = workdir / "kv-server.pem", workdir / "kv-server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
