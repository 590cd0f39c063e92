"""Distinct small test images, pushed before anything is timed.

Each image is an OCI manifest with a ``{}`` config and its own one-line layer.
Pushes run one thread per repository: distribution 2.8 can reject a manifest
whose blobs are being uploaded concurrently into the same repository.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from tests.servers.images import ImagePusher


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    digest: str
    size: int
    media_type: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Image:
        return cls(**value)


def push_images(
    base_url: str, repositories: Sequence[str], count: int, prefix: str = "v"
) -> list[Image]:
    """``count`` distinct images, spread round-robin over ``repositories``; in push order."""
    if not repositories:
        raise ValueError("need at least one repository")
    run = uuid.uuid4().hex[:8]

    def push_into(slot: int) -> list[tuple[int, Image]]:
        pusher = ImagePusher(base_url)
        repository = repositories[slot]
        pushed = []
        for index in range(slot, count, len(repositories)):
            tag = f"{prefix}{index}"
            image = pusher.push_image(repository, tag, layer_text=f"{run} {repository} {tag}\n")
            pushed.append(
                (index, Image(repository, tag, image.digest, image.size, image.media_type))
            )
        pusher.session.close()
        return pushed

    with ThreadPoolExecutor(max_workers=len(repositories)) as pool:
        slots = list(pool.map(push_into, range(len(repositories))))
    ordered = sorted((item for slot in slots for item in slot), key=lambda item: item[0])
    return [image for _, image in ordered]
