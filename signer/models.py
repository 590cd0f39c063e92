"""Wire values shared by every layer: OCI descriptors, sign requests, outcomes.

All are frozen: a descriptor read from the registry must not change on its way
into a signature payload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from signer.errors import InvalidReferenceError
from signer.mediatypes import NOTARY_SIGNATURE_ARTIFACT

# OCI image-spec descriptor digests: we accept the two registered algorithms and
# insist on lowercase hex of the right length, as registries do.
_DIGEST_RE = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})\Z")  # \Z: no "\n" after


# RFC 6838 section 4.2 restricted names, which image-spec requires of mediaType: no
# parameters, no spaces, nothing outside ASCII. A media type read from a registry answer
# is sent back in an Accept header, so CR/LF or non-Latin-1 text must never get this far.
_MEDIA_TYPE_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\Z"
)


def validate_media_type(media_type: object) -> str:
    if not isinstance(media_type, str) or not media_type:
        raise InvalidReferenceError("descriptor has no mediaType")
    if not _MEDIA_TYPE_RE.match(media_type):
        raise InvalidReferenceError(
            f"descriptor mediaType {media_type[:80]!r} is not a media type (RFC 6838 type/subtype)"
        )
    return media_type


def validate_digest(digest: str) -> str:
    """Return ``digest`` unchanged if it is a well-formed sha256/sha512 digest."""
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        shown = repr(digest)[:90]
        raise InvalidReferenceError(
            f"invalid digest {shown}: expected sha256:<64 lowercase hex> "
            "or sha512:<128 lowercase hex>"
        )
    return digest


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return None if mapping is None else MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor (the subset Notary and the referrers API use)."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] | None = None
    artifact_type: str | None = None

    def __post_init__(self) -> None:
        validate_digest(self.digest)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise InvalidReferenceError(f"invalid descriptor size {self.size!r}")
        validate_media_type(self.media_type)
        if self.artifact_type is not None:
            validate_media_type(self.artifact_type)
        object.__setattr__(self, "annotations", _frozen(self.annotations))

    def to_json(self) -> dict[str, Any]:
        """OCI JSON form, fields in the order notation writes them."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @classmethod
    def from_json(cls, data: Any) -> Descriptor:
        if not isinstance(data, dict):
            raise InvalidReferenceError("descriptor is not a JSON object")
        annotations = data.get("annotations")
        if annotations is not None and (
            not isinstance(annotations, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items())
        ):
            raise InvalidReferenceError("descriptor annotations must map strings to strings")
        artifact_type = data.get("artifactType")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise InvalidReferenceError("descriptor artifactType must be a string")
        return cls(
            media_type=data.get("mediaType"),  # type: ignore[arg-type]  # checked in __post_init__
            digest=data.get("digest"),  # type: ignore[arg-type]
            size=data.get("size"),  # type: ignore[arg-type]
            annotations=annotations,
            artifact_type=artifact_type,
        )

    def plain(self) -> Descriptor:
        """mediaType, digest and size only: the part a signature payload pins."""
        return Descriptor(self.media_type, self.digest, self.size)

    @property
    def is_notary_signature(self) -> bool:
        return self.artifact_type == NOTARY_SIGNATURE_ARTIFACT


@dataclass(frozen=True)
class SignRequest:
    """What to sign. ``reference`` names a tag or a digest; the registry resolves it."""

    registry: str
    repository: str
    reference: str  # a tag or a digest
    expiry: timedelta | None = None
    user_metadata: Mapping[str, str] = field(default_factory=dict)
    force: bool = False
    tag: str | None = None  # the tag the push event named, kept for the ledger

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_metadata", MappingProxyType(dict(self.user_metadata)))
        if self.tag is None and ":" not in self.reference:
            # a reference without ':' is a tag (digests are algorithm:hex)
            object.__setattr__(self, "tag", self.reference)
        if self.expiry is not None and self.expiry <= timedelta(0):
            raise InvalidReferenceError("expiry must be a positive duration")


SkipReason = Literal[
    "already_signed",  # a signature by the current certificate exists
    "is_signature",  # the artifact is itself a Notary signature (loop guard)
    "is_referrers_index",  # a tag-schema referrers index (loop guard)
    "is_referrer",  # any other artifact with a subject (SBOMs, attestations)
    "filtered",  # repository/tag excluded by configuration
    "not_a_manifest",  # blob or unsupported media type
    "duplicate",  # another worker is signing the same digest right now
]


@dataclass(frozen=True)
class Countersignature:
    """The RFC 3161 timestamp a signature carries: when the TSA says it saw the signature,
    and who the TSA is (its certificate's subject)."""

    time: datetime
    authority: str

    @property
    def time_text(self) -> str:
        return self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Signed:
    subject: Descriptor
    signature: Descriptor  # the signature manifest that was pushed
    certificate_thumbprints: tuple[str, ...]  # of the chain in the envelope, leaf first
    referrers_api: bool
    key_id: str = ""  # the versioned key that signed (Key Vault kid, or file:<path>)
    timestamp: Countersignature | None = None  # when SIGNER_TIMESTAMP_URL is set
    status: Literal["signed"] = "signed"

    @property
    def digest(self) -> str:
        return self.subject.digest


@dataclass(frozen=True)
class Skipped:
    subject: Descriptor | None
    reason: SkipReason
    detail: str
    status: Literal["skipped"] = "skipped"
    for_digest: str | None = None  # what was asked for when there is no subject

    @property
    def digest(self) -> str | None:
        return self.subject.digest if self.subject else self.for_digest


@dataclass(frozen=True)
class Failed:
    """An attempt that ended in an error; ``transient`` ones are delivered again."""

    subject: Descriptor | None
    code: str
    detail: str
    transient: bool = False
    for_digest: str | None = None
    status: Literal["failed"] = "failed"

    @property
    def digest(self) -> str | None:
        return self.subject.digest if self.subject else self.for_digest


SignOutcome = Signed | Skipped
Outcome = Signed | Skipped | Failed
