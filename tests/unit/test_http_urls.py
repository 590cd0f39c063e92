"""origin_of parses only what precedes the path, once per prefix: the same verdicts as
parsing the whole URL, for URLs a registry, a Location header or a token realm may hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from signer.http import urls
from tests.fuzzing import examples

_PIECES = st.sampled_from(
    [
        "http://", "https://", "HTTPS://", "ftp://", "//", "registry.example", "127.0.0.1",
        "[::1]", "[fe80::1", ":443", ":0", ":99999", ":x", "@", "user:pw@", "/", "?", "#",
        "/v2/app/manifests/sha256:ab", "?digest=sha256:ab", "#frag", "a-b.c", ".", "-bad",
        "%2F", "\\", "..", "localhost", "xn--bcher-kva.example",
    ]
)  # fmt: skip
_URL = st.lists(_PIECES, max_size=7).map("".join)


def _verdict(parse: object, url: str) -> object:
    try:
        return parse(url)  # type: ignore[operator]
    except urls.UnsafeUrlError as exc:
        return ("refused", str(exc))


@examples(500)
@given(_URL)
def test_prefix_parsing_agrees_with_parsing_the_whole_url(url: str) -> None:
    verdict = _verdict(urls.origin_of, url)
    if verdict in (("refused", "URL is empty or too long"),):
        return  # refused before any parsing, as before
    assert verdict == _verdict(urls._origin_of_prefix.__wrapped__, url)


def test_examples() -> None:
    origin = urls.origin_of("https://Registry.Example:8443/v2/x?y=1#z")
    assert (origin.scheme, origin.host, origin.port) == ("https", "registry.example", 8443)
    assert urls.origin_of("http://[::1]/v2/").host == "::1"
    for bad in ("https://user@r.example/", "ftp://r.example/", "https://r.example:99999/"):
        assert isinstance(_verdict(urls.origin_of, bad), tuple)
