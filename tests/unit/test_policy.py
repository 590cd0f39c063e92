"""Filters and the loop guard."""

from __future__ import annotations

import pytest

from signer.mediatypes import NOTARY_SIGNATURE_ARTIFACT, OCI_EMPTY, OCI_MANIFEST
from signer.policy import (
    PushFilter,
    first_listed_artifact,
    is_referrers_tag,
    signature_artifact_reason,
)


@pytest.mark.parametrize(
    ("repository", "tag", "expected"),
    [
        ("team-a/app", "v1", None),
        ("team-a/app", None, "untagged push"),
        ("team-b/app", "v1", "matches no include pattern"),
        ("team-a/scratch/x", "v1", "is excluded"),
        ("team-a/app", "dev-123", "tag 'dev-123' matches no include pattern"),
        ("team-a/app", "v1-dev-1", "tag 'v1-dev-1' is excluded"),
        ("team-a/app", "v1-rc", None),
    ],
)
def test_filters(repository: str, tag: str | None, expected: str | None) -> None:
    f = PushFilter(
        include_repositories=("team-a/*",),
        exclude_repositories=("team-a/scratch/*",),
        include_tags=("v*",),
        exclude_tags=("*-dev-*",),
    )
    reason = f.rejection(repository, tag)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason


def test_untagged_pushes_signed_when_enabled() -> None:
    assert PushFilter(sign_untagged=True).rejection("app", None) is None


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("sha256-" + "a" * 64, True),
        ("sha256-" + "a" * 63, False),
        ("sha256-" + "A" * 64, False),
        ("v1", False),
        (None, False),
    ],
)
def test_referrers_tag(tag: str | None, expected: bool) -> None:
    assert is_referrers_tag(tag) is expected


def test_signature_forms_are_recognised() -> None:
    notation_form = {"mediaType": OCI_MANIFEST, "config": {"mediaType": NOTARY_SIGNATURE_ARTIFACT}}
    oci11_form = {
        "mediaType": OCI_MANIFEST,
        "artifactType": NOTARY_SIGNATURE_ARTIFACT,
        "config": {"mediaType": OCI_EMPTY},
    }
    image = {"mediaType": OCI_MANIFEST, "config": {"mediaType": OCI_EMPTY}}
    assert signature_artifact_reason(notation_form)
    assert signature_artifact_reason(oci11_form)
    assert signature_artifact_reason(image) is None


_ENTRY = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 500}
_SBOM = "application/spdx+json"


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ({"manifests": [{**_ENTRY, "artifactType": _SBOM}]}, _ENTRY["digest"]),
        (
            {"manifests": [{**_ENTRY, "artifactType": _SBOM}, {**_ENTRY, "artifactType": "x/y"}]},
            _ENTRY["digest"],
        ),
        ({"manifests": []}, None),  # nothing listed: nothing to tell by
        ({"manifests": [_ENTRY]}, None),  # no artifactType: a plain image list
        ({"manifests": [{**_ENTRY, "artifactType": ""}]}, None),
        (  # a multi-arch index: platform images
            {"manifests": [{**_ENTRY, "artifactType": _SBOM, "platform": {"os": "linux"}}]},
            None,
        ),
        ({"manifests": [{**_ENTRY, "artifactType": _SBOM}, _ENTRY]}, None),  # mixed
        ({"manifests": [{**_ENTRY, "artifactType": _SBOM}], "subject": _ENTRY}, None),
        ({"manifests": "nope"}, None),
        ({"manifests": ["nope"]}, None),
        ({}, None),
    ],
)
def test_first_listed_artifact_recognises_the_shape_of_a_referrers_list(
    manifest: dict[str, object], expected: str | None
) -> None:
    assert first_listed_artifact(manifest) == expected
