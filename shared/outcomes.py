"""Optional outcome events (``Signer.ImageSigned``, ``Signer.SigningFailed``) to Event Grid.

Off unless ``SIGNER_OUTCOME_TOPIC_ENDPOINT`` is set (then ``NullPublisher``). Events use
the Event Grid schema, subject ``<repository>@<digest>``, and authenticate with the
app's identity (a ``TokenCredential``; the identity needs "EventGrid Data Sender").

Publishing is best effort: the signature is already in the registry and the ledger row
written, so a failed publish is logged and never fails or retries the signing (a retried
event would find the signature and record a skip, not publish again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from azure.core.credentials import TokenCredential

if TYPE_CHECKING:  # imported where used: most apps leave outcome events off (16 ms saved)
    from azure.eventgrid import EventGridEvent

log = logging.getLogger("signer.outcomes")

EVENT_TYPES = {"signed": "Signer.ImageSigned", "failed": "Signer.SigningFailed"}
DATA_FIELDS = (
    "registry",
    "repository",
    "tag",
    "digest",
    "signatureDigest",
    "reason",
    "certificateThumbprint",
    "timestampTime",  # the RFC 3161 timestamp's time, when signatures are timestamped
    "timestampAuthority",  # the TSA certificate's subject
)
DATA_VERSION = "1.0"
REASON_LIMIT = 2048
# per call: the basic-topic client ignores constructor options. A publish must not hold an
# invocation for long, so it gets short timeouts and a single retry.
SEND_OPTIONS: Mapping[str, Any] = {"retry_total": 1, "connection_timeout": 5, "read_timeout": 10}


class Publisher(Protocol):
    def publish(self, outcome: str, fields: Mapping[str, Any]) -> None: ...


class NullPublisher:
    """Outcome events switched off."""

    def publish(self, outcome: str, fields: Mapping[str, Any]) -> None:
        return None


class EventGridOutcomePublisher:
    """Publishes one event per outcome; build once per worker and reuse (one HTTP session)."""

    def __init__(self, endpoint: str, credential: TokenCredential, **send_options: Any) -> None:
        from azure.eventgrid import EventGridPublisherClient  # noqa: PLC0415

        self._client = EventGridPublisherClient(endpoint, credential)
        self._send_options = {**SEND_OPTIONS, **send_options}

    def publish(self, outcome: str, fields: Mapping[str, Any]) -> None:
        """``outcome`` is ``signed`` or ``failed``; ``fields`` uses the ``DATA_FIELDS`` names."""
        event_type = EVENT_TYPES.get(outcome)
        if event_type is None:
            log.warning("outcome %r has no event type; not published", outcome)
            return
        event = build_event(event_type, fields)
        try:
            self._client.send(event, **self._send_options)
        except Exception as exc:  # best effort by design, see module docstring
            status = getattr(exc, "status_code", None)
            log.warning(
                "could not publish %s for %s: %s%s",
                event_type,
                event.subject,
                type(exc).__name__,
                f" (HTTP {status})" if status else "",
            )

    def close(self) -> None:
        self._client.close()


def build_event(event_type: str, fields: Mapping[str, Any]) -> EventGridEvent:
    from azure.eventgrid import EventGridEvent  # noqa: PLC0415

    data: dict[str, Any] = {name: fields.get(name) for name in DATA_FIELDS}
    if isinstance(data["reason"], str) and len(data["reason"]) > REASON_LIMIT:
        data["reason"] = data["reason"][:REASON_LIMIT] + "…[truncated]"
    subject = f"{data['repository'] or ''}@{data['digest'] or ''}"
    return EventGridEvent(
        subject=subject, event_type=event_type, data=data, data_version=DATA_VERSION
    )


def outcome_publisher(
    endpoint: str | None, credential: TokenCredential | None, **send_options: Any
) -> Publisher:
    """``Settings.outcome_topic_endpoint`` in, the publisher the handlers use out."""
    if not endpoint:
        return NullPublisher()
    if credential is None:
        raise ValueError("an outcome topic needs a credential")
    return EventGridOutcomePublisher(endpoint, credential, **send_options)
