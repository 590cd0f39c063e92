"""The registry operations the signer needs, for one registry host, shared by all workers.

Request budget per signature in steady state (the benchmark counts them):
referrers API: GET manifest, GET referrers, POST envelope, PUT signature = 4;
tag schema: GET manifest, GET tag index, envelope upload (1-2), PUT signature,
GET tag index again (so no concurrent referrer is dropped), PUT index = 6-7 (+1 DELETE
with cleanup). Everything else (``{}`` config blob,
tokens, the referrers-API probe, single-POST upload support) is learnt once and
cached on the client.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from signer.errors import (
    DigestMismatchError,
    InvalidReferenceError,
    ManifestTooLargeError,
    NotFoundError,
    RegistryError,
    TransientRegistryError,
)
from signer.mediatypes import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    MANIFEST_MEDIA_TYPES,
    NOTARY_SIGNATURE_ARTIFACT,
    OCI_INDEX,
    OCI_MANIFEST,
)
from signer.models import Descriptor, validate_digest
from signer.reference import validate_repository, validate_tag
from signer.registry.auth import RegistryAuth
from signer.registry.manifests import (
    descriptor_json,
    digest_of,
    referrers_index,
    referrers_tag,
    signature_manifest,
)
from signer.registry.referrers import (
    ReferrerList,
    TagIndex,
    merge_entries,
    next_page,
    parse_index_entries,
    to_descriptors,
)
from signer.registry.response import HttpResponse
from signer.registry.transport import (
    ResponseTooLargeError,
    Transport,
    error_codes,
    error_detail,
)
from signer.registry.uploads import BlobUploader

_log = logging.getLogger(__name__)

MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_BLOB_SIZE = 32 * 1024 * 1024
MAX_REFERRER_PAGES = 50
BLOB_RACE_PAUSE = 0.2  # seconds before a manifest PUT is sent again after BLOB_UNKNOWN
_SUBJECT_LOCKS = 1024  # in-process index locks kept before the table is reset
MAX_DANGLING_CHECKS = 1000  # listed referrers checked for existence when a PUT names a gone one
MAX_REFERRERS_BYTES = 8 * 1024 * 1024  # all pages of one listing together
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)


@dataclass(frozen=True)
class ResolvedManifest:
    """A manifest as the registry serves it: the descriptor a signature must pin."""

    descriptor: Descriptor
    content: bytes
    manifest: dict[str, Any]


#: called right before each visible write; raises when the caller's lock may be lost
Fence = Callable[[], None]


def _no_fence() -> None:
    return None


@dataclass(frozen=True)
class _Put:
    response: HttpResponse
    body: bytes  # what was finally stored (an index may lose dangling entries on the way)


@dataclass(frozen=True)
class PushedSignature:
    descriptor: Descriptor  # the signature manifest, with artifactType and annotations
    referrers_api: bool  # False: the referrers tag-schema index was updated


class RegistryClient:
    """OCI distribution client for one registry; thread-safe, meant to be shared."""

    def __init__(
        self,
        registry: str,
        *,
        auth: RegistryAuth,
        insecure: bool = False,
        timeout: float = 10.0,
        retries: int = 3,
        referrers_tag_cleanup: bool = False,
        retry_backoff: float = 0.2,
        max_retry_after: float = 10.0,
    ) -> None:
        self._transport = Transport(
            registry,
            auth=auth,
            insecure=insecure,
            timeout=timeout,
            retries=retries,
            retry_backoff=retry_backoff,
            max_retry_after=max_retry_after,
        )
        self._cleanup = referrers_tag_cleanup
        self._uploads = BlobUploader(self._transport, self.scope)
        self._referrers_api: bool | None = None  # None: not known yet
        self._lock = threading.Lock()
        self._subject_locks: dict[tuple[str, str], threading.Lock] = {}

    @property
    def registry(self) -> str:
        return self._transport.registry

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def referrers_api(self) -> bool | None:
        """Whether the registry has the referrers API (None until the client has found out)."""
        return self._referrers_api

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def scope(self, repository: str) -> str:
        """One token scope per repository covers every call the signer makes there."""
        actions = "pull,push,delete" if self._cleanup else "pull,push"
        return f"repository:{repository}:{actions}"

    # -- reading ------------------------------------------------------------------

    def resolve(self, repository: str, reference: str) -> ResolvedManifest:
        """Fetch a manifest by tag or digest; the descriptor comes from the bytes served."""
        validate_repository(repository)
        expected = reference if ":" in reference else None
        if expected is not None:
            validate_digest(expected)
        else:
            validate_tag(reference)
        what = f"manifest {repository}{'@' if expected else ':'}{reference}"
        response = self._get_manifest(repository, reference, what, MANIFEST_ACCEPT)
        algorithm = expected.split(":", 1)[0] if expected else "sha256"
        digest = digest_of(response.content, algorithm)
        if expected is not None and digest != expected:
            raise DigestMismatchError(f"{what}: registry served content with digest {digest}")
        served = response.headers.get("Docker-Content-Digest")
        if served and served.split(":", 1)[0] == algorithm and served != digest:
            raise DigestMismatchError(
                f"{what}: Docker-Content-Digest {served} does not match the content ({digest})"
            )
        manifest = _json_object(response.content, what)
        media_type = _media_type(response, manifest)
        if media_type is None:
            raise RegistryError(f"{what}: registry did not say what media type it is")
        try:
            descriptor = Descriptor(media_type, digest, len(response.content))
        except InvalidReferenceError as exc:
            raise RegistryError(f"{what}: the registry's answer has {exc}") from None
        return ResolvedManifest(descriptor, response.content, manifest)

    def fetch_manifest(self, repository: str, descriptor: Descriptor) -> bytes:
        """Manifest bytes for a known descriptor, checked against its digest and size."""
        what = f"manifest {repository}@{descriptor.digest}"
        accept = ", ".join(dict.fromkeys((descriptor.media_type, *MANIFEST_MEDIA_TYPES)))
        response = self._get_manifest(repository, descriptor.digest, what, accept)
        _verify(response.content, descriptor, what)
        return response.content

    def fetch_blob(
        self, repository: str, descriptor: Descriptor, max_size: int = MAX_BLOB_SIZE
    ) -> bytes:
        what = f"blob {repository}@{descriptor.digest}"
        if descriptor.size > max_size:
            raise RegistryError(f"{what} is {descriptor.size} bytes; the limit is {max_size}")
        try:
            response = self._transport.request(
                "GET",
                f"/v2/{repository}/blobs/{descriptor.digest}",
                scope=self.scope(repository),
                what=what,
                max_body=descriptor.size,
            )
        except ResponseTooLargeError:
            raise DigestMismatchError(
                f"{what}: registry sent more than the descriptor's {descriptor.size} bytes"
            ) from None
        _verify(response.content, descriptor, what)
        return response.content

    def _get_manifest(
        self, repository: str, reference: str, what: str, accept: str
    ) -> HttpResponse:
        try:
            return self._transport.request(
                "GET",
                f"/v2/{repository}/manifests/{reference}",
                scope=self.scope(repository),
                what=what,
                headers={"Accept": accept},
                max_body=MAX_MANIFEST_SIZE,
            )
        except ResponseTooLargeError as exc:
            size = f"{exc.size} bytes" if exc.size is not None else "more than the limit"
            raise ManifestTooLargeError(
                f"{what} is {size}; manifests larger than {MAX_MANIFEST_SIZE} bytes are refused"
            ) from None
        except NotFoundError:
            raise NotFoundError(
                f"{what} not found at {self.registry} (no such repository, tag or digest)"
            ) from None

    # -- referrers ------------------------------------------------------------------

    def list_referrers(self, repository: str, subject: Descriptor) -> ReferrerList:
        """Every referrer of ``subject``; via the referrers API when the registry has it."""
        validate_repository(repository)
        # read once: another thread's probe may answer meanwhile, and must not turn this
        # call's probe (whose 404 means "no referrers API") into an error
        known = self._referrers_api
        if known is not False:
            found = self._referrers_from_api(repository, subject, probing=known is None)
            if found is not None:
                return found
        index = self._read_tag_index(repository, subject)
        return ReferrerList(subject, to_descriptors(list(index.entries)), "tag-schema", index)

    def _referrers_from_api(
        self, repository: str, subject: Descriptor, *, probing: bool
    ) -> ReferrerList | None:
        what = f"referrers of {repository}@{subject.digest}"
        url: str | None = f"/v2/{repository}/referrers/{subject.digest}"
        descriptors: list[Descriptor] = []
        received = 0
        for _ in range(MAX_REFERRER_PAGES):
            if url is None:
                break
            response = self._transport.request(
                "GET",
                url,
                scope=self.scope(repository),
                what=what,
                expect=(200, 404, 405) if probing else (200,),
                headers={"Accept": OCI_INDEX},
                max_body=MAX_MANIFEST_SIZE,
            )
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            if response.status != 200 or content_type != OCI_INDEX:
                if probing:  # not a referrers API: remember, use tags
                    self._referrers_api = False
                    return None
                raise RegistryError(f"{what}: unexpected answer ({content_type or 'no type'})")
            self._referrers_api = True
            probing = False
            received += len(response.content)
            if received > MAX_REFERRERS_BYTES:
                raise RegistryError(
                    f"{what}: the listing is larger than {MAX_REFERRERS_BYTES} bytes in all"
                )
            # descriptors, not the raw JSON, are what is kept across pages
            descriptors.extend(to_descriptors(parse_index_entries(response.content, what)))
            url = next_page(response.headers.get("Link"), response.url)
        else:
            raise RegistryError(f"{what}: more than {MAX_REFERRER_PAGES} pages of referrers")
        return ReferrerList(subject, tuple(descriptors), "api")

    def _read_tag_index(self, repository: str, subject: Descriptor) -> TagIndex:
        tag = referrers_tag(subject.digest)
        what = f"referrers index {repository}:{tag}"
        try:
            response = self._transport.request(
                "GET",
                f"/v2/{repository}/manifests/{tag}",
                scope=self.scope(repository),
                what=what,
                expect=(200, 404),
                headers={"Accept": OCI_INDEX},
                max_body=MAX_MANIFEST_SIZE,
            )
        except ResponseTooLargeError:
            raise ManifestTooLargeError(
                f"{what} is larger than {MAX_MANIFEST_SIZE} bytes"
            ) from None
        if response.status == 404:
            return TagIndex(None, ())
        entries = parse_index_entries(response.content, what)
        return TagIndex(digest_of(response.content), tuple(entries))

    # -- writing ----------------------------------------------------------------------

    def push_signature(
        self,
        repository: str,
        subject: Descriptor,
        envelope: bytes,
        envelope_media_type: str,
        annotations: Mapping[str, str],
        *,
        fence: Fence = _no_fence,
    ) -> PushedSignature:
        """Push a signature manifest exactly as notation does, and make it discoverable.

        ``fence()`` is called right before each write that others can see (the signature
        manifest, the tag-schema index): it raises when the caller's lock on the subject
        may have been lost, so nothing is written from a stale view.
        """
        validate_repository(repository)
        envelope_descriptor = Descriptor(envelope_media_type, digest_of(envelope), len(envelope))
        manifest = signature_manifest(subject, envelope_descriptor, annotations)
        descriptor = Descriptor(
            OCI_MANIFEST,
            digest_of(manifest),
            len(manifest),
            annotations=dict(annotations) or None,
            artifact_type=NOTARY_SIGNATURE_ARTIFACT,
        )
        self._uploads.ensure(repository, EMPTY_JSON_DIGEST, EMPTY_JSON)
        self._uploads.upload(repository, envelope_descriptor.digest, envelope)

        def config_again() -> bytes | None:
            # the {} blob is remembered as present per repository; someone may have deleted
            # it since (a cleanup, a GC): check and upload it again before the second try
            self._uploads.forget(repository, EMPTY_JSON_DIGEST)
            self._uploads.ensure(repository, EMPTY_JSON_DIGEST, EMPTY_JSON)
            return None

        fence()
        put = self._put_manifest(
            repository,
            descriptor.digest,
            manifest,
            OCI_MANIFEST,
            on_blob_unknown=config_again,
            fence=fence,
        )
        if put.response.headers.get("OCI-Subject"):
            self._referrers_api = True
            return PushedSignature(descriptor, True)
        if self._referrers_api:  # API seen answering, header just omitted (as oras-go does)
            return PushedSignature(descriptor, True)
        self._referrers_api = False
        self._add_to_tag_index(repository, subject, descriptor, fence)
        return PushedSignature(descriptor, False)

    def _add_to_tag_index(
        self, repository: str, subject: Descriptor, descriptor: Descriptor, fence: Fence
    ) -> None:
        """Read the index as it is now, add one entry, write it back.

        Read right before the write (not reused from the listing made before signing), so
        the window for a writer that does not share our lock (notation, oras) is as short
        as one round trip. Nothing is remembered between calls: what the registry holds is
        the truth, so an entry someone removed stays removed.
        """
        key = (repository, subject.digest)
        with self._lock:
            if len(self._subject_locks) > _SUBJECT_LOCKS:
                self._subject_locks.clear()
            subject_lock = self._subject_locks.setdefault(key, threading.Lock())
        with subject_lock:
            fence()
            current = self._read_tag_index(repository, subject)
            if any(entry.get("digest") == descriptor.digest for entry in current.entries):
                return  # already listed: nothing to write
            ours = descriptor_json(descriptor)
            entries = merge_entries(current.entries, (ours,))

            def without_dangling() -> bytes | None:
                live = self._live_entries(repository, current.entries)
                if len(live) == len(current.entries):
                    return None  # every listed manifest exists: our own was not seen yet
                _log.warning(
                    "referrers index %s:%s listed %d deleted manifest(s); dropped them",
                    repository,
                    referrers_tag(subject.digest),
                    len(current.entries) - len(live),
                )
                return referrers_index(merge_entries(tuple(live), (ours,)))

            fence()
            body = self._put_manifest(
                repository,
                referrers_tag(subject.digest),
                referrers_index(entries),
                OCI_INDEX,
                on_blob_unknown=without_dangling,
                fence=fence,
            ).body
            if (
                self._cleanup
                and current.digest
                and current.digest != digest_of(body)
                and _shaped_like_referrers(current.entries)
            ):
                # only what can be a superseded referrers list: the tag may have been put on
                # anything by anyone with push rights, and delete rights must not follow
                self._delete_manifest(repository, current.digest)

    def _live_entries(
        self, repository: str, entries: tuple[dict[str, Any], ...]
    ) -> list[dict[str, Any]]:
        """The entries whose manifest still exists (an index may name deleted ones).

        Every entry is checked (an unchecked one kept could be the dangling one, and the
        write would fail for ever); an index too long to check is a permanent error.
        """
        if len(entries) > MAX_DANGLING_CHECKS:
            raise RegistryError(
                f"referrers index of {repository} lists {len(entries)} referrers and one of them "
                f"is gone; more than {MAX_DANGLING_CHECKS} are not checked one by one"
            )
        live = []
        for entry in entries:
            digest = entry.get("digest")
            if not isinstance(digest, str):
                continue
            try:
                validate_digest(digest)
            except InvalidReferenceError:
                continue
            response = self._transport.request(
                "HEAD",
                f"/v2/{repository}/manifests/{digest}",
                scope=self.scope(repository),
                what=f"referrer {repository}@{digest}",
                expect=(200, 404),
                headers={"Accept": MANIFEST_ACCEPT},
            )
            if response.status == 200:
                live.append(entry)
        return live

    def _put_manifest(
        self,
        repository: str,
        reference: str,
        body: bytes,
        media_type: str,
        *,
        on_blob_unknown: Callable[[], bytes | None] | None = None,
        fence: Fence = _no_fence,
    ) -> _Put:
        """PUT a manifest; a ``MANIFEST_BLOB_UNKNOWN`` answer gets one more try.

        Every blob (or manifest) a body names was uploaded or seen just before: a registry
        that cannot find one is usually catching up (distribution's filesystem driver
        rewrites a blob's link in place while another upload of it commits), so the same
        body is sent again after a pause. ``on_blob_unknown`` may instead supply a body
        without entries that really are gone (an index naming deleted manifests).
        """
        what = f"manifest {repository}{'@' if ':' in reference else ':'}{reference}"
        for attempt in (1, 2):
            response = self._transport.request(
                "PUT",
                f"/v2/{repository}/manifests/{reference}",
                scope=self.scope(repository),
                what=what,
                expect=(201, 400),
                headers={"Content-Type": media_type},
                data=body,
                before_attempt=fence,
            )
            if response.status == 201:
                break
            if "MANIFEST_BLOB_UNKNOWN" not in error_codes(response):
                self._transport.fail(response, what)
            if attempt == 2:
                raise TransientRegistryError(
                    f"{what} at {self.registry}: the registry does not see content it has "
                    f"just accepted ({error_detail(response)}); try again"
                )
            replacement = on_blob_unknown() if on_blob_unknown is not None else None
            if replacement is not None:
                body = replacement
            else:
                time.sleep(BLOB_RACE_PAUSE)
            fence()
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != digest_of(body):
            raise DigestMismatchError(f"{what}: registry stored {answered}")
        return _Put(response, body)

    def _delete_manifest(self, repository: str, digest: str) -> None:
        """Best effort: the signature is already discoverable; a stale index only costs storage.

        Failing here would make the event be retried and sign the image a second time.
        """
        try:
            self._transport.request(
                "DELETE",
                f"/v2/{repository}/manifests/{digest}",
                scope=self.scope(repository),
                what=f"superseded referrers index {repository}@{digest}",
                expect=(202, 200, 404, 405),
            )
        except (RegistryError, TransientRegistryError) as exc:
            _log.warning("could not delete superseded referrers index: %s", exc)


def _shaped_like_referrers(entries: tuple[dict[str, Any], ...]) -> bool:
    """An index every entry of which is an artifact (artifactType, no platform)."""
    return bool(entries) and all(
        isinstance(e.get("artifactType"), str) and "platform" not in e for e in entries
    )


def _json_object(content: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        raise RegistryError(f"{what} is not valid JSON (or nested too deeply)") from None
    if not isinstance(value, dict):
        raise RegistryError(f"{what} is not a JSON object")
    return value


def _media_type(response: HttpResponse, manifest: Mapping[str, Any]) -> str | None:
    """Content-Type as served; a generic JSON type defers to the manifest's own field."""
    served = response.headers.get("Content-Type", "").split(";")[0].strip()
    if served and served not in ("application/json", "application/octet-stream", "text/plain"):
        return served
    own = manifest.get("mediaType")
    return own if isinstance(own, str) and own else (served or None)


def _verify(content: bytes, descriptor: Descriptor, what: str) -> None:
    if len(content) != descriptor.size:
        raise DigestMismatchError(
            f"{what}: got {len(content)} bytes, the descriptor says {descriptor.size}"
        )
    actual = digest_of(content, descriptor.digest.split(":", 1)[0])
    if actual != descriptor.digest:
        raise DigestMismatchError(f"{what}: content digest is {actual}")
