"""Blob uploads with as few round trips as the registry allows.

distribution-spec v1.1 lets a client upload a blob in one request
(``POST .../blobs/uploads/?digest=<d>`` with the body, answered 201). Registries
without it answer 202 with an upload session instead; the body is then PUT to
that session, so trying costs no extra request, and the client remembers not to
send the body with the POST again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from signer.errors import DigestMismatchError, RegistryError
from signer.http.urls import UnsafeUrlError, origin_of, resolve
from signer.registry.response import HttpResponse
from signer.registry.transport import Transport

_OCTET = {"Content-Type": "application/octet-stream"}


def with_digest(location: str, digest: str) -> str:
    """The upload session URL with ``digest=`` added to whatever query it carries."""
    parts = urlsplit(location)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("digest", digest)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class BlobUploader:
    def __init__(self, transport: Transport, scope_for: Callable[[str], str]) -> None:
        self._transport = transport
        self._scope_for = scope_for
        self._lock = threading.Lock()
        self._monolithic: bool | None = None  # None: not tried yet
        self._present: set[tuple[str, str]] = set()

    def ensure(self, repository: str, digest: str, data: bytes) -> None:
        """Upload a shared blob (the ``{}`` config) unless known present.

        One HEAD per repository and client; after that the answer is cached.
        """
        key = (repository, digest)
        with self._lock:
            if key in self._present:
                return
        response = self._transport.request(
            "HEAD",
            f"/v2/{repository}/blobs/{digest}",
            scope=self._scope_for(repository),
            what=f"blob {repository}@{digest}",
            expect=(200, 404),
        )
        if response.status == 404:
            self.upload(repository, digest, data)
        with self._lock:
            self._present.add(key)

    def forget(self, repository: str, digest: str) -> None:
        """Stop trusting that ``digest`` is present (the registry said it is not)."""
        with self._lock:
            self._present.discard((repository, digest))

    def upload(self, repository: str, digest: str, data: bytes) -> None:
        """Upload without checking existence first (callers use this for unique blobs)."""
        scope, what = self._scope_for(repository), f"upload of blob {repository}@{digest}"
        path = f"/v2/{repository}/blobs/uploads/"
        if self._monolithic is not False:
            response = self._transport.request(
                "POST",
                path,
                scope=scope,
                what=what,
                expect=(201, 202),
                params={"digest": digest},
                data=data,
                headers=_OCTET,
            )
            if response.status == 201:
                self._monolithic = True
                self._check_digest(response, digest, what)
                return
            self._monolithic = False
        else:
            response = self._transport.request("POST", path, scope=scope, what=what, expect=(202,))
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"{what}: registry answered 202 without a Location")
        try:
            target = with_digest(resolve(self._transport.base_url + path, location), digest)
            same_origin = origin_of(target) == self._transport.origin
        except UnsafeUrlError as exc:
            raise RegistryError(f"{what}: unusable upload Location: {exc}") from None
        if same_origin:
            done = self._transport.request(
                "PUT", target, scope=scope, what=what, expect=(201,), data=data, headers=_OCTET
            )
        else:  # an upload session elsewhere (storage front end): never send registry tokens there
            done = self._transport.send("PUT", target, data=data, headers=_OCTET)
            if done.status != 201:
                self._transport.fail(done, what)
        self._check_digest(done, digest, what)

    @staticmethod
    def _check_digest(response: HttpResponse, digest: str, what: str) -> None:
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != digest:
            raise DigestMismatchError(f"{what}: registry stored {answered}")
