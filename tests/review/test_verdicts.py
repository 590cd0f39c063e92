"""Review: JWS envelopes where our verdict and notation v1.3.2's part, undocumented.

notation-core-go decodes the JWS envelope and its protected header with Go's
encoding/json, which takes a repeated member (the last one wins) and, for ``[]byte``
fields (``x5c``), ignores CR/LF inside base64. ``signer.verifier.jws`` refuses both.
The README's "Verifier and notation" section lists neither. Harness: olareg, the real
notation and our CLI sharing one trustpolicy.json and trust store.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable

import pytest

from signer.cli import main
from signer.mediatypes import JWS_MEDIA_TYPE, OCI_MANIFEST
from signer.models import Descriptor
from signer.registry.manifests import signature_manifest
from tests.servers.images import ImagePusher, PushedImage, sha256
from tests.servers.notation import Notation
from tests.servers.olareg import Olareg
from tests.verifier import hostile, pki

KEY = hostile.signing_key()
LEAF = pki.certificate(KEY, pki.name("Review JWS"))


def _payload(image: PushedImage) -> bytes:
    target = {"mediaType": image.media_type, "digest": image.digest, "size": image.size}
    return json.dumps({"targetArtifact": target}).encode()


def repeated_protected_member(image: PushedImage) -> bytes:
    """The protected header names ``cty`` twice, with the same value."""
    header = json.dumps(hostile.jws_header(KEY))
    doubled = header[:-1] + ', "cty": "application/vnd.cncf.notary.payload.v1+json"}'
    return hostile.jws(_payload(image), [hostile.der(LEAF)], KEY, protected_bytes=doubled.encode())


def repeated_envelope_member(image: PushedImage) -> bytes:
    """The envelope's ``payload`` member appears twice (the same value both times)."""
    blob = hostile.jws(_payload(image), [hostile.der(LEAF)], KEY)
    doc = json.loads(blob)
    return blob[:-1] + b', "payload": ' + json.dumps(doc["payload"]).encode() + b"}"


def x5c_with_line_breaks(image: PushedImage) -> bytes:
    """The x5c certificate's base64 broken into 64-character lines (as PEM bodies are)."""
    blob = hostile.jws(_payload(image), [hostile.der(LEAF)], KEY)
    doc = json.loads(blob)
    text = base64.b64encode(hostile.der(LEAF)).decode()
    doc["header"]["x5c"] = ["\n".join(text[i : i + 64] for i in range(0, len(text), 64))]
    return json.dumps(doc).encode()


CASES: dict[str, Callable[[PushedImage], bytes]] = {
    "jws-protected-header-repeated-member": repeated_protected_member,
    "jws-envelope-repeated-member": repeated_envelope_member,
    "jws-x5c-base64-with-line-breaks": x5c_with_line_breaks,
}


@pytest.mark.parametrize("name", CASES)
def test_our_jws_verdict_is_notations(
    name: str, olareg: Olareg, notation: Notation, repository_name: str
) -> None:
    pusher = ImagePusher(olareg.url)
    image = pusher.push_image(repository_name, layer_text=f"review jws {name}\n")
    blob = CASES[name](image)
    subject = Descriptor(image.media_type, image.digest, image.size)
    pusher.push_blob(repository_name, b"{}")
    layer = Descriptor(JWS_MEDIA_TYPE, pusher.push_blob(repository_name, blob), len(blob))
    manifest = signature_manifest(subject, layer, {})
    pusher.push_manifest(repository_name, sha256(manifest), manifest, OCI_MANIFEST)
    notation.trust([LEAF], "review")
    notation.simple_policy("*", "review")
    reference = f"{olareg.host}/{repository_name}@{image.digest}"

    theirs = notation.verify(reference, verbose=True)
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "verify", reference, "--insecure-registry",
            "--trust-policy", str(notation.config / "trustpolicy.json"),
            "--trust-store", str(notation.config / "truststore"),
        ],
        out=out,
        err=err,
    )  # fmt: skip

    assert theirs.passed, f"notation's verdict changed: {theirs}"
    assert code == 0, f"notation verifies it, we do not: {err.getvalue()}"
