"""Review: can a pushed referrer still make an image "already signed"?

Real parts: Debian's docker-registry (tag schema: anyone with push rights writes the
``sha256-<hex>`` tag), Azurite, the function's entry points, the real notation v1.3.2.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scripts.sample_events import push_event
from signer.envelope import X5CHAIN
from signer.mediatypes import COSE_MEDIA_TYPE, NOTARY_SIGNATURE_ARTIFACT
from signer.models import Descriptor
from signer.registry import signature_layer
from signer.registry.manifests import referrers_index, referrers_tag, signature_manifest
from tests.plugins.app import SignerApp
from tests.servers.images import OCI_INDEX, OCI_MANIFEST, PushedImage, sha256
from tests.servers.notation import Notation

MakeApp = Callable[..., SignerApp]


def _event(app: SignerApp, repository: str, image: PushedImage) -> dict[str, Any]:
    return push_event(app.registry_host, repository, image.digest, size=image.size)


def _stranger_certificate() -> bytes:
    """A CA nobody trusts and that issued nothing: a link that cannot be part of the chain."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the issuer")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def _with_broken_chain(envelope: bytes) -> bytes:
    """The same signed bytes; the unprotected x5chain (not covered by the signature, as
    the COSE envelope spec has it) gets a certificate appended that did not issue the leaf."""
    tagged = cbor2.loads(envelope)
    protected, unprotected, payload, signature = tagged.value
    chain = (
        cbor2.loads(unprotected[X5CHAIN])
        if isinstance(unprotected[X5CHAIN], bytes)
        else (unprotected[X5CHAIN])
    )
    unprotected = {**unprotected, X5CHAIN: [chain[0], _stranger_certificate()]}
    return bytes(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, signature])))


def _replace_our_signature_with_a_broken_copy(
    app: SignerApp, repository: str, image: PushedImage
) -> str:
    """What a pusher without delete rights can do on a tag-schema registry: copy the
    genuine envelope, break its unprotected chain, push it, list only the copy."""
    subject = Descriptor(image.media_type, image.digest, image.size)
    with app.client() as client:
        [genuine] = client.list_referrers(repository, subject).signatures
        layer = signature_layer(client.fetch_manifest(repository, genuine), "signature")
        broken = _with_broken_chain(client.fetch_blob(repository, layer))
    app.pusher.push_blob(repository, broken)
    annotations = dict(genuine.annotations or {})
    manifest = signature_manifest(
        subject, Descriptor(COSE_MEDIA_TYPE, sha256(broken), len(broken)), annotations
    )
    pushed = app.pusher.push_manifest(repository, sha256(manifest), manifest, OCI_MANIFEST)
    entry = {**pushed.descriptor(), "artifactType": NOTARY_SIGNATURE_ARTIFACT,
             "annotations": annotations}  # fmt: skip
    app.pusher.push_manifest(
        repository, referrers_tag(image.digest), referrers_index([entry]), OCI_INDEX
    )
    return pushed.digest


def test_a_copy_of_our_signature_with_a_broken_chain_does_not_count_as_signed(
    make_app: MakeApp, repository_name: str, notation: Notation
) -> None:
    """``genuine_signature`` checks the leaf and the signature, not the chain the envelope
    carries; the chain is unprotected, so a pusher can break it on a copy of a real
    signature. notation then rejects every listed signature, and the signer answers
    "already signed" to every event and re-sign request: the image stays unverifiable."""
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    app.deliver(_event(app, repository_name, image))
    _replace_our_signature_with_a_broken_copy(app, repository_name, image)
    notation.trust([x509.load_pem_x509_certificate(app.dev["chain"].read_bytes())], "dev")
    notation.simple_policy("*", "dev")
    reference = f"{app.registry_host}/{repository_name}@{image.digest}"
    assert not notation.verify(reference).passed  # the copy is not a valid signature
    assert not app.verify(repository_name, image.digest).verified

    status, body = app.http_sign({"reference": reference})

    assert status == 200, body
    assert body["results"][0]["status"] == "signed", body  # is "skipped": already_signed
    assert notation.verify(reference).passed


def test_a_signature_about_to_expire_is_renewed_not_counted(
    make_app: MakeApp, repository_name: str
) -> None:
    """An existing signature counts until the second it expires, whatever expiry this
    request asks for: a signature made with ``"expiry": "1m"`` (by anyone who may call
    POST /api/sign) makes the next push event of that image a skip, and a minute later
    the image has no valid signature and no event will come to give it one."""
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    reference = f"{app.registry_host}/{repository_name}@{image.digest}"
    status, body = app.http_sign({"reference": reference, "expiry": "1m"})
    assert status == 200 and body["results"][0]["status"] == "signed", body

    app.deliver(_event(app, repository_name, image))  # SIGNER_EXPIRY: the default, longer

    row = app.history(image.digest)[0]
    assert row["status"] == "signed", row  # is "skipped": already_signed
