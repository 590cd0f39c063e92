"""Reference parsing: every malformed part gets its own specific message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.errors import InvalidReferenceError
from signer.reference import Reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("demo.azurecr.io/net-monitor:v1", "demo.azurecr.io", "net-monitor", "v1", None),
        (f"demo.azurecr.io/a/b/c@{DIGEST}", "demo.azurecr.io", "a/b/c", None, DIGEST),
        (f"localhost:5000/app:1.0@{DIGEST}", "localhost:5000", "app", "1.0", DIGEST),
        (
            "127.0.0.1:5001/vectors/x_y__z-1:latest",
            "127.0.0.1:5001",
            "vectors/x_y__z-1",
            "latest",
            None,
        ),
        ("Demo.AzureCR.io/app:v1", "demo.azurecr.io", "app", "v1", None),
    ],
)
def test_parses_valid_references(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.target == (digest or tag)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "reference is empty"),
        ("net-monitor:v1", "has no registry"),
        ("demo.azurecr.io/", "has no registry"),
        ("demo.azurecr.io/net-monitor", "names neither a tag nor a digest"),
        ("demo.azurecr.io/Net-Monitor:v1", "invalid repository name"),
        ("demo.azurecr.io/../etc/passwd:v1", "invalid repository name"),
        ("demo.azurecr.io/a//b:v1", "invalid repository name"),
        ("demo.azurecr.io/a/b/:v1", "invalid repository name"),
        ("demo.azurecr.io/app:-bad", "invalid tag"),
        ("demo.azurecr.io/app:" + "t" * 129, "invalid tag"),
        ("demo.azurecr.io/app@sha256:abc", "invalid digest"),
        ("demo.azurecr.io/app@sha256:" + "A" * 64, "invalid digest"),
        ("demo.azurecr.io/app@md5:" + "a" * 32, "invalid digest"),
        ("demo.azurecr.io/app@sha512:" + "a" * 64, "invalid digest"),
        ("demo..azurecr.io/app:v1", "invalid registry host"),
        ("demo.azurecr.io:99999/app:v1", "invalid registry port"),
        ("demo.azurecr.io/app\n:v1", "printable ASCII"),
        ("demo.azurecr.io/\u0430pp:v1", "printable ASCII"),  # Cyrillic a, a look-alike
        ("demo.azurecr.io/app:v1\x00", "printable ASCII"),
        ("demo.azurecr.io/" + "a" * 300 + ":v1", "characters long"),
    ],
)
def test_rejects_malformed_references(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message):
        Reference.parse(text)


def test_round_trips_to_text() -> None:
    text = f"localhost:5000/team/app:v1@{DIGEST}"
    assert str(Reference.parse(text)) == text


@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReferenceError:
        return
    # whatever parses is a reference that prints back to something that parses identically
    assert Reference.parse(str(ref)) == ref
