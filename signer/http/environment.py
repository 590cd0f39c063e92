"""The proxy and CA-bundle environment, read the way azure-core (requests) and notation do.

Proxies: ``HTTPS_PROXY``/``HTTP_PROXY`` (and lowercase), bypassed for hosts in
``NO_PROXY``, exactly as ``requests`` decides for the Azure SDK clients in the same
process (``requests.utils.get_environ_proxies``: suffixes, ``*``, ports, CIDR ranges).
CA bundle: ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` (what requests honours), else
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` (what OpenSSL and Go, hence notation, honour), else
certifi's bundle as requests uses. Never ``.netrc``: credentials come only from the
signer's own configuration. Read per call, so a process that changes its environment
(a test, an operator's shell) is seen at once; the lookups are cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import certifi
from requests.utils import get_environ_proxies


@dataclass(frozen=True)
class TrustRoots:
    cafile: str | None
    capath: str | None

    @property
    def label(self) -> str:
        return self.cafile or self.capath or "the system default"


def trust_roots(environ: os._Environ[str] | dict[str, str] | None = None) -> TrustRoots:
    env = os.environ if environ is None else environ
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = env.get(name, "").strip()
        if value:
            return TrustRoots(value, None) if not os.path.isdir(value) else TrustRoots(None, value)
    cafile = env.get("SSL_CERT_FILE", "").strip() or None
    capath = env.get("SSL_CERT_DIR", "").strip() or None
    if cafile or capath:
        return TrustRoots(cafile, capath)
    return TrustRoots(certifi.where(), None)


def proxy_for(url: str) -> str | None:
    """The proxy URL to use for ``url`` (None: connect directly)."""
    proxies = get_environ_proxies(url)
    scheme = url.split(":", 1)[0].lower()
    return proxies.get(scheme) or proxies.get("all") or None
