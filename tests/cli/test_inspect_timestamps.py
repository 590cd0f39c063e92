"""``python -m signer inspect`` on timestamped signatures: the countersignature's range and
TSA certificates in the text tree and in ``-o json``, read but never trusted."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from signer.certs import thumbprint
from signer.cli import main
from signer.envelope import prepare_envelope
from signer.mediatypes import COSE_MEDIA_TYPE, EMPTY_JSON, OCI_MANIFEST
from signer.models import Descriptor
from signer.payload import build_payload
from signer.registry.manifests import digest_of, signature_manifest
from signer.signers.local import LocalSigner
from signer.timestamp.request import build_request
from signer.timestamp.token import parse_response
from tests.servers.images import ImagePusher
from tests.servers.oci_registry import OciRegistry
from tests.servers.tsa import TsaFault, TsaServer
from tests.timestamp.helpers import signing_chain


def _inspect(reference: str, *extra: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = main(["inspect", reference, "--insecure-registry", *extra], out=out, err=err)
    assert code == 0, err.getvalue()
    return out.getvalue()


def _push_timestamped(
    registry: OciRegistry, repository: str, tsa: TsaServer, fault: TsaFault | None
) -> str:
    pusher = ImagePusher(registry.url)
    image = pusher.push_image(repository, "v1")
    subject = Descriptor(image.media_type, image.digest, image.size)
    key, chain = signing_chain("p256")
    signer = LocalSigner(key, chain)
    unsigned = prepare_envelope(build_payload(subject), signer, signing_time=datetime.now(UTC))
    signature = signer.sign(unsigned.to_be_signed())
    token = parse_response(tsa.reply_for(build_request(signature, "sha256").der, fault)).token
    envelope = unsigned.complete(signature, timestamp_token=token)
    pusher.push_blob(repository, EMPTY_JSON)
    pusher.push_blob(repository, envelope)
    layer = Descriptor(COSE_MEDIA_TYPE, digest_of(envelope), len(envelope))
    manifest = signature_manifest(subject, layer, {})
    pusher.push_manifest(repository, digest_of(manifest), manifest, OCI_MANIFEST)
    return f"{registry.host}/{repository}:v1"


def test_inspect_shows_the_countersignature(
    oci_registry: OciRegistry, tsa_server: TsaServer, repository_name: str
) -> None:
    reference = _push_timestamped(oci_registry, repository_name, tsa_server, None)
    (signature,) = json.loads(_inspect(reference, "-o", "json"))["signatures"]
    stamp = signature["timestampSignature"]
    assert stamp["error"] is None and stamp["accuracySeconds"] == 1.0
    assert stamp["tsaSubject"] == "CN=Test TSA,O=acr-notary-signer tests"
    assert [c["sha256Fingerprint"] for c in stamp["certificates"]] == [
        thumbprint(tsa_server.identity.cert),
        thumbprint(tsa_server.root),
    ]
    text = _inspect(reference)
    lines = text.splitlines()
    start = lines.index("    timestamp signature (read, not verified):")
    assert lines[start + 1].startswith("        timestamp: [")
    assert lines[start + 2].startswith("        genTime: ")
    assert lines[start + 2].endswith("(accuracy 1s, policy 1.2.3.4.1)")
    assert lines[start + 3] == "        signed by: CN=Test TSA,O=acr-notary-signer tests"
    assert lines[start + 4] == "        certificate: CN=Test TSA,O=acr-notary-signer tests"
    assert lines[start + 5] == (
        f"            sha256 thumbprint: {thumbprint(tsa_server.identity.cert)}"
    )
    assert lines[start + 6].startswith("            valid: ")


def test_inspect_says_when_the_countersignature_is_not_over_the_signature(
    oci_registry: OciRegistry, tsa_server: TsaServer, repository_name: str
) -> None:
    reference = _push_timestamped(oci_registry, repository_name, tsa_server, "wrong_imprint")
    text = _inspect(reference)
    assert (
        "    timestamp signature (read, not verified):\n"
        "        invalid: failed to parse timestamp countersignature: mismatched message"
    ) in text
