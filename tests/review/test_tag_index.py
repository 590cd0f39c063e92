"""Review: the referrers tag-schema index write, attacked by whoever can push a tag.

Real parts: Debian's docker-registry (no referrers API), Azurite, the function's entry points.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from scripts.sample_events import push_event
from signer.registry.manifests import referrers_index, referrers_tag
from tests.plugins.app import SignerApp
from tests.servers.images import OCI_INDEX, OCI_MANIFEST, PushedImage

MakeApp = Callable[..., SignerApp]


def _event(app: SignerApp, repository: str, image: PushedImage, **extra: Any) -> dict[str, Any]:
    return push_event(app.registry_host, repository, image.digest, size=image.size, **extra)


def _tag_index(app: SignerApp, repository: str, subject: PushedImage) -> dict[str, Any]:
    answer = app.pusher.session.get(
        f"{app.pusher.base_url}/v2/{repository}/manifests/{referrers_tag(subject.digest)}",
        headers={"Accept": OCI_INDEX},
        timeout=10,
    )
    answer.raise_for_status()
    return dict(json.loads(answer.content))


def test_a_tag_index_with_a_duplicate_entry_still_gets_the_new_signature(
    make_app: MakeApp, repository_name: str
) -> None:
    """An index listing one manifest twice (anyone who can push a tag can write it) makes
    ``merge_entries`` collapse the duplicate, the merged list is as long as the old one,
    and ``_add_to_tag_index`` returns "already listed" without writing: the ledger says
    signed, nothing can find the signature, and every re-sign adds another orphan."""
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    other = app.pusher.push_image(repository_name, "unrelated")
    duplicated = referrers_index([other.descriptor(), other.descriptor()])
    app.pusher.push_manifest(repository_name, referrers_tag(image.digest), duplicated, OCI_INDEX)

    app.deliver(_event(app, repository_name, image))

    [row] = app.history(image.digest)
    assert row["status"] == "signed", row
    listed = [m["digest"] for m in _tag_index(app, repository_name, image)["manifests"]]
    assert row["signatureDigest"] in listed, listed  # fails: the index was never written
    assert app.verify(repository_name, image.digest).verified
    assert app.signatures(repository_name, image.digest, image.size, OCI_MANIFEST)


def test_a_dangling_entry_after_the_first_hundred_is_repaired_not_retried_for_ever(
    make_app: MakeApp, repository_name: str
) -> None:
    """``_live_entries`` HEADs only the first MAX_DANGLING_CHECKS (100) entries and keeps the
    rest unchecked: a deleted manifest listed 101st makes the repair find nothing to drop,
    the same body is PUT again, and the push ends TransientRegistryError, redelivered for
    24 h, each delivery pushing one more orphan signature (issue 9 finding 3's loop)."""
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    config = app.pusher.push_blob(repository_name, b"{}")
    entries = []
    for n in range(101):
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": config,
                    "size": 2,
                },
                "layers": [],
                "annotations": {"n": str(n)},
            },
            separators=(",", ":"),
        ).encode()
        pushed = app.pusher.push_manifest(repository_name, f"r{n}", body, OCI_MANIFEST)
        entries.append(pushed.descriptor())
    index = referrers_index(entries)
    app.pusher.push_manifest(repository_name, referrers_tag(image.digest), index, OCI_INDEX)
    gone = entries[-1]["digest"]  # deleted the way `oras manifest delete` leaves it: listed
    app.pusher.session.delete(
        f"{app.pusher.base_url}/v2/{repository_name}/manifests/{gone}", timeout=10
    ).raise_for_status()

    app.deliver(_event(app, repository_name, image))  # raises TransientRegistryError

    row = app.history(image.digest)[0]
    assert row["status"] == "signed", row
    listed = [m["digest"] for m in _tag_index(app, repository_name, image)["manifests"]]
    assert row["signatureDigest"] in listed and gone not in listed


def test_cleanup_deletes_only_a_superseded_referrers_index_not_any_tagged_manifest(
    make_app: MakeApp, repository_name: str
) -> None:
    """With SIGNER_REFERRERS_TAG_CLEANUP the signer deletes, by digest, whatever manifest
    the ``sha256-<subject>`` tag pointed at before its write. Anyone with push rights (no
    delete rights) can point that tag at the bytes of someone else's image index (say the
    release index ``app:release``); the next signature of the subject then deletes that
    manifest, and the registry drops every tag on it: push rights become delete rights,
    exercised with the signer's identity."""
    app = make_app(SIGNER_REFERRERS_TAG_CLEANUP="true")
    release, _children = app.pusher.push_index(repository_name, "release")
    image = app.pusher.push_image(repository_name, "v1")
    # the attacker: the release index's own bytes, tagged as the referrers tag of ``image``
    app.pusher.push_manifest(
        repository_name, referrers_tag(image.digest), release.content, OCI_INDEX
    )

    app.deliver(_event(app, repository_name, image))

    answer = app.pusher.session.get(
        f"{app.pusher.base_url}/v2/{repository_name}/manifests/release",
        headers={"Accept": OCI_INDEX},
        timeout=10,
    )
    assert answer.status_code == 200, "the signer deleted the release index (and its tag)"
