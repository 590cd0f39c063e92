"""Filters and the loop guard."""

from __future__ import annotations

import pytest

from signer.loopguard import first_listed_artifact, is_referrers_tag, signature_artifact_reason
from signer.mediatypes import NOTARY_SIGNATURE_ARTIFACT, OCI_EMPTY, OCI_MANIFEST
from signer.models import Descriptor
from signer.policy import PushFilter


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


_DIGEST = "sha256:" + "a" * 64
_ENTRY = {"mediaType": OCI_MANIFEST, "digest": _DIGEST, "size": 500}
_SBOM = "application/spdx+json"
_FIRST = Descriptor(OCI_MANIFEST, _DIGEST, 500, artifact_type=_SBOM)


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ({"manifests": [{**_ENTRY, "artifactType": _SBOM}]}, _FIRST),
        (
            {"manifests": [{**_ENTRY, "artifactType": _SBOM}, {**_ENTRY, "artifactType": "x/y"}]},
            _FIRST,
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
        # the first entry is no descriptor a registry accepts: a tag, a bad digest, no size
        ({"manifests": [{**_ENTRY, "digest": "latest", "artifactType": _SBOM}]}, None),
        ({"manifests": [{**_ENTRY, "digest": "sha256:abc", "artifactType": _SBOM}]}, None),
        (
            {
                "manifests": [
                    {"mediaType": OCI_MANIFEST, "digest": _FIRST.digest, "artifactType": _SBOM}
                ]
            },
            None,
        ),
    ],
)
def test_first_listed_artifact_recognises_the_shape_of_a_referrers_list(
    manifest: dict[str, object], expected: Descriptor | None
) -> None:
    assert first_listed_artifact(manifest) == expected
