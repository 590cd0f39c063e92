"""The shapes requests are counted by: registry paths and Azure Storage operations.

The delay proxy sees each request's start line (and a blob lease's action header);
these fold names, digests and keys so that requests of one kind count together.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

_REGISTRY_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/v2/?$"), "/v2/"),
    (re.compile(r"^/v2/.+/blobs/uploads/?$"), "/v2/<name>/blobs/uploads/"),
    (re.compile(r"^/v2/.+/blobs/uploads/[^/]+$"), "/v2/<name>/blobs/uploads/<id>"),
    (re.compile(r"^/v2/.+/blobs/[a-z0-9]+:[a-f0-9]+$"), "/v2/<name>/blobs/<digest>"),
    (re.compile(r"^/v2/.+/manifests/[a-z0-9]+:[a-f0-9]+$"), "/v2/<name>/manifests/<digest>"),
    (
        re.compile(r"^/v2/.+/manifests/sha256-[a-f0-9]{64}$"),
        "/v2/<name>/manifests/<sha256-tag index>",
    ),
    (re.compile(r"^/v2/.+/manifests/[^/]+$"), "/v2/<name>/manifests/<tag>"),
    (re.compile(r"^/v2/.+/referrers/[^/]+$"), "/v2/<name>/referrers/<digest>"),
    (re.compile(r"^/v2/.+/tags/list$"), "/v2/<name>/tags/list"),
]


def registry_pattern(method: str, path: str, status: int) -> str:
    bare = path.split("?", 1)[0]
    for regex, name in _REGISTRY_PATTERNS:
        if regex.match(bare):
            return f"{method} {name} -> {status}"
    return f"{method} {bare} -> {status}"


def storage_pattern(
    service: str, method: str, target: str, lease_action: str | None, status: int
) -> str:
    """``target``: the request target with its query; ``lease_action``: x-ms-lease-action."""
    path, _, query = target.partition("?")
    params = parse_qs(query)
    parts = [p for p in path.split("/") if p][1:]  # drop the account name
    if parts and parts[0].startswith("Tables"):
        name = "/Tables"
    elif service == "table":
        name = "/<table>(<keys>)" if parts and "(" in parts[0] else "/<table>"
    elif len(parts) <= 1:
        name = "/<container>"
    else:
        name = "/<container>/<blob>"
    extra = [f"{k}={params[k][0]}" for k in ("restype", "comp") if k in params]
    label = f"{method} {service} {name}" + (f"?{'&'.join(extra)}" if extra else "")
    if lease_action:
        label += f" [{lease_action}]"
    return f"{label} -> {status}"
