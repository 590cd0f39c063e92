"""Azure Container Registry push events (Event Grid schema and CloudEvents 1.0).

Both schemas carry the same ``data``: ``target`` (mediaType, size, digest, length,
repository, tag) and ``request.host`` (the login server). Everything is validated
before anything is resolved: a malformed event gets a specific InvalidEventError
and is never turned into a signature of something else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from signer.errors import InvalidEventError, InvalidReferenceError
from signer.models import validate_digest
from signer.reference import validate_registry, validate_repository, validate_tag

IMAGE_PUSHED = "Microsoft.ContainerRegistry.ImagePushed"
CHART_PUSHED = "Microsoft.ContainerRegistry.ChartPushed"
PUSH_EVENT_TYPES = (IMAGE_PUSHED, CHART_PUSHED)
#: ``data.action`` ACR sends with each push type; another action under a push type (an
#: ``ImagePushed`` saying ``delete``) is a contradiction, not a push
PUSH_ACTIONS = {IMAGE_PUSHED: "push", CHART_PUSHED: "chart_push"}
LEGACY_HELM_MEDIA_TYPE = "application/vnd.acr.helm.chart"
MAX_EVENT_ID_LENGTH = 128


@dataclass(frozen=True)
class PushEvent:
    event_id: str
    event_type: str
    registry: str | None  # data.request.host; absent on legacy chart events
    repository: str
    tag: str | None
    digest: str
    media_type: str | None

    @property
    def is_legacy_chart(self) -> bool:
        return self.media_type == LEGACY_HELM_MEDIA_TYPE


def _field(obj: dict[str, Any], name: str, where: str) -> Any:
    if name not in obj or obj[name] is None:
        raise InvalidEventError(f"event {where}.{name} is missing")
    return obj[name]


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidEventError(f"event {where} must be a string, got {type(value).__name__}")
    return value


def validate_event_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not event_id.strip():
        raise InvalidEventError("event id is missing")
    if len(event_id) > MAX_EVENT_ID_LENGTH or not event_id.isprintable():
        raise InvalidEventError("event id must be at most 128 printable characters")
    return event_id


def parse_push_event(event_id: Any, event_type: str, data: Any) -> PushEvent:
    """Validate an ImagePushed/ChartPushed event's data into a PushEvent."""
    event_id = validate_event_id(event_id)
    if event_type not in PUSH_EVENT_TYPES:
        raise InvalidEventError(f"event type {event_type!r} is not a push event")
    if not isinstance(data, dict):
        raise InvalidEventError("event data must be a JSON object")
    action = data.get("action")
    if action is not None and action != PUSH_ACTIONS[event_type]:
        raise InvalidEventError(
            f"event data.action {str(action)[:40]!r} contradicts the event type {event_type} "
            f"(expected {PUSH_ACTIONS[event_type]!r})"
        )
    target = _field(data, "target", "data")
    if not isinstance(target, dict):
        raise InvalidEventError("event data.target must be a JSON object")
    try:
        repository = validate_repository(
            _string(_field(target, "repository", "data.target"), "data.target.repository")
        )
        digest = validate_digest(
            _string(_field(target, "digest", "data.target"), "data.target.digest")
        )
        tag_raw = target.get("tag")
        tag = (
            validate_tag(_string(tag_raw, "data.target.tag")) if tag_raw not in (None, "") else None
        )
    except InvalidReferenceError as exc:
        raise InvalidEventError(f"event data.target: {exc}") from None
    media_type = target.get("mediaType")
    if media_type is not None:
        media_type = _string(media_type, "data.target.mediaType")
    request = data.get("request")
    registry = None
    if request is not None:
        if not isinstance(request, dict):
            raise InvalidEventError("event data.request must be a JSON object")
        host = request.get("host")
        if host is not None:
            try:
                registry = validate_registry(_string(host, "data.request.host"))
            except InvalidReferenceError as exc:
                raise InvalidEventError(f"event data.request.host: {exc}") from None
    if registry is None and event_type == IMAGE_PUSHED:
        raise InvalidEventError("event data.request.host is missing: cannot tell which registry")
    return PushEvent(
        event_id=event_id,
        event_type=event_type,
        registry=registry,
        repository=repository,
        tag=tag,
        digest=digest,
        media_type=media_type,
    )
