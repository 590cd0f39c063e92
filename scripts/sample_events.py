"""ACR push events as Event Grid delivers them (Event Grid schema or CloudEvents 1.0).

Used by the demo, by ``send_event`` and by the tests, so all three send the shape
documented for Azure Container Registry.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from signer.events import PUSH_ACTIONS

IMAGE_PUSHED = "Microsoft.ContainerRegistry.ImagePushed"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local"
    "/providers/Microsoft.ContainerRegistry/registries/local"
)


def push_event(
    registry_host: str,
    repository: str,
    digest: str,
    *,
    tag: str | None = "v1",
    media_type: str = OCI_MANIFEST,
    size: int = 0,
    event_id: str | None = None,
    event_type: str = IMAGE_PUSHED,
    cloudevents: bool = False,
) -> dict[str, Any]:
    """One event body; ``tag=None`` is a push by digest (no tag in the target)."""
    event_id = event_id or str(uuid.uuid4())
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    target: dict[str, Any] = {
        "mediaType": media_type,
        "size": size,
        "digest": digest,
        "length": size,
        "repository": repository,
    }
    if tag is not None:
        target["tag"] = tag
    data = {
        "id": event_id,
        "timestamp": now,
        "action": PUSH_ACTIONS.get(event_type, "push"),  # ACR: chart_push for ChartPushed
        "location": "local",
        "target": target,
        "request": {
            "id": str(uuid.uuid4()),
            "host": registry_host,
            "method": "PUT",
            "useragent": "acr-notary-signer sample",
        },
        "actor": {},
        "source": {},
    }
    subject = f"{repository}:{tag}" if tag else f"{repository}@{digest}"
    if cloudevents:
        return {
            "specversion": "1.0",
            "type": event_type,
            "source": TOPIC,
            "subject": subject,
            "id": event_id,
            "time": now,
            "datacontenttype": "application/json",
            "data": data,
        }
    return {
        "id": event_id,
        "topic": TOPIC,
        "subject": subject,
        "eventType": event_type,
        "eventTime": now,
        "data": data,
        "dataVersion": "1.0",
        "metadataVersion": "1",
    }
