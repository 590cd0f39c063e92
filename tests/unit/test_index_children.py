"""index_children: the child manifests of a pushed image index that the signer signs.

An index is written by whoever pushes; it may list thousands of entries, the same
child many times, or attestations that are not images. What is signed is bounded and
de-duplicated, and what is dropped is said.
"""

from __future__ import annotations

import hashlib
from typing import Any

from signer.mediatypes import OCI_INDEX, OCI_MANIFEST
from signer.models import Descriptor
from signer.service import MAX_INDEX_CHILDREN, index_children

SUBJECT = Descriptor(OCI_INDEX, "sha256:" + "ab" * 32, 1234)


def _entry(n: int, **extra: Any) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": 100 + n, **extra}


def test_at_most_the_cap_is_signed_and_the_rest_is_reported() -> None:
    entries = [_entry(n) for n in range(MAX_INDEX_CHILDREN + 5)]
    children, problems = index_children({"manifests": entries}, SUBJECT)
    assert [c.digest for c in children] == [e["digest"] for e in entries[:MAX_INDEX_CHILDREN]]
    assert len(problems) == 1
    assert f"more than {MAX_INDEX_CHILDREN} child manifests" in problems[0]


def test_a_child_listed_many_times_is_signed_once_and_does_not_count_twice() -> None:
    entries = [_entry(0)] * 500 + [_entry(n) for n in range(1, MAX_INDEX_CHILDREN)]
    children, problems = index_children({"manifests": entries}, SUBJECT)
    assert len(children) == MAX_INDEX_CHILDREN and problems == []
    assert len({c.digest for c in children}) == MAX_INDEX_CHILDREN


def test_attestation_manifests_are_not_images() -> None:
    attestation = _entry(1, annotations={"vnd.docker.reference.type": "attestation-manifest"})
    children, problems = index_children({"manifests": [_entry(0), attestation]}, SUBJECT)
    assert [c.digest for c in children] == [_entry(0)["digest"]] and problems == []
