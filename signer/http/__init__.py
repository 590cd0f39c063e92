"""A thin HTTP client for the calls on a signature's path: OCI registries, Table storage,
the Key Vault sign call, TSAs (the Azure SDKs still do everything off that path).

Built on the stdlib's http.client (connections.py: one pool per origin and route),
bodies read under a cap, a hard
deadline per attempt, redirects followed by hand (so a credential never follows one
to another origin), and the proxy and CA-bundle environment azure-core and notation
honour. Every failure is an ``TransportError`` with a kind the caller maps onto its own
permanent or transient error; no message ever quotes a header value.
"""

from signer.http import headers as _headers
from signer.http.client import FailureKind, HttpClient, HttpResponse, TransportError
from signer.http.urls import Origin, UnsafeUrlError, origin_of

_headers.install()

__all__ = [
    "FailureKind",
    "HttpClient",
    "HttpResponse",
    "Origin",
    "TransportError",
    "UnsafeUrlError",
    "origin_of",
]
