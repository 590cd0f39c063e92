"""The proxy and CA-bundle environment, read the way azure-core (requests) and notation do.

Proxies: ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (lowercase wins, as in urllib and
requests), bypassed for hosts in ``NO_PROXY`` exactly as ``requests`` decides for the Azure
SDK clients in the same process (``requests.utils.should_bypass_proxies``: suffixes, ``*``,
ports, CIDR ranges). CA bundle: ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` (what
requests honours), else ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` (what OpenSSL and Go, hence
notation, honour), else certifi's bundle as requests uses. Never ``.netrc``: credentials
come only from the signer's own configuration.

The variables are read on every request (a process that changes its environment, a test
or an operator's shell, is seen at once), but only the dozen that matter, and a decision
is computed once per (variables, scheme, host): requests' own lookup walks the whole
environment twice per call, which cost more CPU than the request itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import certifi
from requests.utils import should_bypass_proxies

_PROXY_NAMES = ("http", "https", "all")
_NAMES = (
    *(f"{scheme}_proxy" for scheme in _PROXY_NAMES),
    *(f"{scheme}_proxy".upper() for scheme in _PROXY_NAMES),
    "no_proxy",
    "NO_PROXY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
Snapshot = tuple[str | None, ...]


@dataclass(frozen=True)
class TrustRoots:
    cafile: str | None
    capath: str | None

    @property
    def label(self) -> str:
        return self.cafile or self.capath or "the system default"


@dataclass(frozen=True)
class Route:
    """How to reach one origin: through which proxy (None: directly), trusting what."""

    proxy: str | None
    roots: TrustRoots


_RAW = getattr(os.environ, "_data", None)  # POSIX: the encoded mapping os.environ wraps
_RAW_NAMES = tuple(os.fsencode(name) for name in _NAMES)


def snapshot() -> Snapshot:
    if isinstance(_RAW, dict):
        # what os.environ.get returns, without its per-call encode and decode
        return tuple(None if (v := _RAW.get(n)) is None else os.fsdecode(v) for n in _RAW_NAMES)
    return tuple(os.environ.get(name) for name in _NAMES)


def route(scheme: str, netloc: str) -> Route:
    """The route for ``scheme://netloc`` under the current environment."""
    return _route(snapshot(), scheme, netloc)


@lru_cache(maxsize=512)
def _route(values: Snapshot, scheme: str, netloc: str) -> Route:
    env = {name: value for name, value in zip(_NAMES, values, strict=True) if value}
    return Route(_proxy(env, scheme, netloc), _roots(env))


def _proxy(env: dict[str, str], scheme: str, netloc: str) -> str | None:
    def var(name: str) -> str | None:
        return env.get(name) or env.get(name.upper())

    proxy = var(f"{scheme}_proxy") or var("all_proxy")
    if not proxy:
        return None
    no_proxy = var("no_proxy")
    if no_proxy and should_bypass_proxies(f"{scheme}://{netloc}/", no_proxy=no_proxy):
        return None
    return proxy


def _roots(env: dict[str, str]) -> TrustRoots:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = env.get(name, "").strip()
        if value:
            return TrustRoots(None, value) if os.path.isdir(value) else TrustRoots(value, None)
    cafile = env.get("SSL_CERT_FILE", "").strip() or None
    capath = env.get("SSL_CERT_DIR", "").strip() or None
    if cafile or capath:
        return TrustRoots(cafile, capath)
    return TrustRoots(certifi.where(), None)
