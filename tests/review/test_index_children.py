"""Review: an image index is the pusher's to write; ``SIGNER_SIGN_INDEX_CHILDREN`` walks it.

Real parts: Debian's docker-registry, Azurite, the function's entry point.
"""

from __future__ import annotations

from collections.abc import Callable

from scripts.sample_events import push_event
from tests.plugins.app import SignerApp
from tests.servers.images import OCI_INDEX, compact

MakeApp = Callable[..., SignerApp]
REPEATS = 40


def test_a_child_listed_many_times_is_signed_and_recorded_once(
    make_app: MakeApp, repository_name: str
) -> None:
    """``index_children`` neither de-duplicates nor caps the entries: an index naming one
    child N times costs N full sign attempts (resolve, lease, listing, signature fetch,
    ledger rows) in one delivery. With N in the thousands (an index is 4 MiB: ~25,000
    entries) one push holds a worker for hours, Event Grid redelivers it every 30 s to
    other instances, and with distinct children each one is a Key Vault sign operation."""
    app = make_app(SIGNER_SIGN_INDEX_CHILDREN="true")
    child = app.pusher.push_image(repository_name, layer_text="the only child\n")
    entries = [child.descriptor()] * REPEATS
    body = compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    index = app.pusher.push_manifest(repository_name, "multi", body, OCI_INDEX)

    app.deliver(
        push_event(app.registry_host, repository_name, index.digest, size=index.size,
                   tag="multi", media_type=OCI_INDEX)
    )  # fmt: skip

    assert app.verify(repository_name, child.digest).verified
    rows = app.history(child.digest)
    assert len(rows) == 1, f"{len(rows)} attempts recorded for one child listed {REPEATS} times"
