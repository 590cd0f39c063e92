"""URLs that came from somewhere else (a Link or Location header, a token realm).

Each is parsed strictly before it is followed: http(s) only, a host that is a DNS
name or an IP literal, no user information, no whitespace or control characters.
``Origin`` (scheme, host, port) is what credentials are keyed by, as browsers and
oras-go key them: a credential for one origin is never sent to another.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 8192


class UnsafeUrlError(ValueError):
    """A URL this client refuses to follow (the message names the reason, not the URL)."""


@dataclass(frozen=True)
class Origin:
    scheme: str  # "http" or "https"
    host: str  # lowercase; IPv6 without brackets
    port: int

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if _DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def _valid_host(host: str) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def origin_of(url: str) -> Origin:
    """The origin of an absolute http(s) URL; UnsafeUrlError for anything else."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeUrlError("URL is empty or too long")
    # printable ASCII without spaces: no whitespace, control characters or DEL (in C)
    if not (url.isascii() and url.isprintable()) or " " in url:
        raise UnsafeUrlError("URL holds whitespace, control or non-ASCII characters")
    # the origin depends only on what precedes the path, query or fragment, which urlsplit
    # ends at the first of "/?#" after "//": parsed once per distinct prefix
    start = url.find("://")
    end = len(url) if start < 0 else _authority_end(url, start + 3)
    return _origin_of_prefix(url[:end])


def _authority_end(url: str, start: int) -> int:
    ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
    return min(ends) if ends else len(url)


@lru_cache(maxsize=1024)
def _origin_of_prefix(url: str) -> Origin:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrlError("URL is malformed (host or port)") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeUrlError(f"URL scheme {scheme[:16]!r} is not http or https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrlError("URL carries user information")
    host = (parts.hostname or "").lower()
    if not _valid_host(host):
        raise UnsafeUrlError("URL has no valid host")
    return Origin(scheme, host, port if port is not None else _DEFAULT_PORTS[scheme])


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: traffic that never leaves the machine."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def resolve(base: str, reference: str) -> str:
    """``reference`` (absolute, or relative to ``base``) as an absolute URL, checked."""
    if not isinstance(reference, str) or len(reference) > MAX_URL_LENGTH:
        raise UnsafeUrlError("URL is not text or too long")
    try:
        target = urljoin(base, reference)
    except ValueError:
        raise UnsafeUrlError("URL is malformed") from None
    origin_of(target)
    return target
