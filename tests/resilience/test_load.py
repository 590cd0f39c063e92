"""Load: 1,000 push events for 500 images, duplicated and reordered, 16 in flight, 2 workers.

Half of the images get their event delivered twice with the same id (Event Grid delivers
at least once), the other half get a second push event of the same digest under another
tag (a new id). All 1,000 deliveries are shuffled and run 16 at a time through
``Handlers.on_event`` of two Handlers instances (two workers: own registry, ledger and
lease clients), against docker-registry (tag-schema referrers: a read-modify-write per
signature) and Azurite. Then: exactly one signature per image, every one verifiable,
and every delivery accounted for by exactly one finished ledger row.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from azure.data.tables import TableClient

from scripts.sample_events import push_event
from shared import runtime
from shared.handlers import Handlers
from signer.errors import TransientError
from signer.models import Descriptor
from signer.reference import Reference
from signer.signatures import verify_reference
from signer.verifier import TrustPolicyDocument, Verifier
from tests.plugins.app import SignerApp
from tests.plugins.azurite import StorageNames
from tests.servers.images import ImagePusher, PushedImage

IMAGES = 500
IN_FLIGHT = 16
REPOSITORIES = 10
SEED = 20261122


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    data: dict[str, Any]
    digest: str


def _push_images(app: SignerApp, prefix: str) -> list[tuple[str, PushedImage]]:
    local = threading.local()
    # one push at a time per repository: docker-registry's filesystem driver rewrites a
    # blob's link file in place, so a manifest PUT racing another upload of the same {}
    # config can find it empty and answer 400 MANIFEST_BLOB_UNKNOWN (seen once in ~10)
    repository_locks = [threading.Lock() for _ in range(REPOSITORIES)]

    def push(i: int) -> tuple[str, PushedImage]:
        pusher = getattr(local, "pusher", None)
        if pusher is None:
            pusher = local.pusher = ImagePusher(app.pusher.base_url)
        repository = f"{prefix}/r{i % REPOSITORIES}"
        with repository_locks[i % REPOSITORIES]:
            image = pusher.push_image(repository, f"v{i}", layer_text=f"image {i}\n")
        return repository, image

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(push, range(IMAGES)))


def _deliveries(host: str, images: list[tuple[str, PushedImage]]) -> list[Delivery]:
    out = []
    for i, (repository, image) in enumerate(images):
        first = push_event(host, repository, image.digest, tag=f"v{i}", event_id=f"push-{i}")
        out.append(Delivery(first["id"], first["eventType"], first["data"], image.digest))
        if i % 2 == 0:  # the same event delivered again
            out.append(Delivery(first["id"], first["eventType"], first["data"], image.digest))
        else:  # the same digest pushed again under another tag: a new event
            second = push_event(
                host, repository, image.digest, tag=f"release-{i}", event_id=f"retag-{i}"
            )
            out.append(Delivery(second["id"], second["eventType"], second["data"], image.digest))
    random.Random(SEED).shuffle(out)
    return out


def _deliver_one(workers: list[Handlers], item: tuple[int, Delivery]) -> bool:
    """One delivery on the worker it lands on; False when it must be delivered again."""
    n, d = item
    try:
        workers[n % len(workers)].on_event(d.event_id, d.event_type, d.data)
    except TransientError:
        return False
    return True


def _deliver_all(workers: list[Handlers], deliveries: list[Delivery]) -> tuple[float, int]:
    """Deliver like Event Grid: 16 at a time; a transient failure is delivered again later."""
    pending = list(enumerate(deliveries))
    redelivered = 0
    started = time.monotonic()
    for _round in range(5):
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            outcomes = list(pool.map(lambda item: _deliver_one(workers, item), pending))
        failed = [item for item, ok in zip(pending, outcomes, strict=True) if not ok]
        if not failed:
            break
        redelivered += len(failed)
        pending = failed
    else:
        raise AssertionError(f"{len(pending)} deliveries still failing after 5 rounds")
    return time.monotonic() - started, redelivered


def test_thousand_events_five_hundred_images_sixteen_in_flight(
    make_app: Callable[..., SignerApp],
    azurite_connection_string: str,
    storage_names: StorageNames,
) -> None:
    app = make_app()
    second_worker = runtime.build_handlers(app.settings)
    prefix = f"load/{storage_names.table[-10:]}"
    images = _push_images(app, prefix)
    deliveries = _deliveries(app.registry_host, images)
    assert len(deliveries) == 2 * IMAGES
    assert len({d.digest for d in deliveries}) == IMAGES

    elapsed, redelivered = _deliver_all([app.handlers, second_worker], deliveries)

    # --- the ledger: every delivery has exactly one finished row -----------------------
    table = TableClient.from_connection_string(azurite_connection_string, storage_names.table)
    rows = list(table.list_entities())
    statuses = Counter(str(r["status"]) for r in rows)
    assert statuses["signing"] == 0, "an attempt was left unfinished"
    assert statuses["signed"] == IMAGES
    failures = [f"{r['eventId']}: {r['reason']}" for r in rows if r["status"] == "failed"]
    assert statuses["failed"] == redelivered, failures  # each transient recorded, then retried
    finished = Counter(str(r["eventId"]) for r in rows if r["status"] in ("signed", "skipped"))
    assert finished == Counter(d.event_id for d in deliveries)
    signed_rows = {str(r["digest"]): r for r in rows if r["status"] == "signed"}
    assert set(signed_rows) == {d.digest for d in deliveries}  # once per image
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert len(skipped) == IMAGES
    assert all("by the current certificate exists" in str(r["reason"]) for r in skipped)

    # --- the registry: one signature per image, the one the ledger names, all verify ---
    verifier = Verifier(TrustPolicyDocument.load(app.dev["trustpolicy"]), app.dev["truststore"])
    with app.client() as client:

        def check(item: tuple[str, PushedImage]) -> bool:
            repository, image = item
            subject = Descriptor(image.media_type, image.digest, image.size)
            [signature] = client.list_referrers(repository, subject).signatures
            assert signature.digest == signed_rows[image.digest]["signatureDigest"]
            ref = Reference(app.registry_host, repository, digest=image.digest)
            verdict = verify_reference(client, ref, verifier)[1]
            assert verdict.verified, verdict.error
            return True

        verify_started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(check, images))
        verify_elapsed = time.monotonic() - verify_started

    print(
        f"\nload: {len(deliveries)} deliveries of {IMAGES} images in {elapsed:.1f} s "
        f"({len(deliveries) / elapsed:.0f}/s, {IN_FLIGHT} in flight, 2 workers); "
        f"signed {statuses['signed']}, skipped {len(skipped)}, transient+redelivered "
        f"{redelivered}; ledger rows {len(rows)}; verified {IMAGES} in {verify_elapsed:.1f} s"
    )
