"""Real signatures to timestamp: COSE envelopes signed by a local key under a test CA."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signer.envelope import build_envelope, parse_envelope
from signer.mediatypes import HEADER_TIMESTAMP_SIGNATURE, OCI_MANIFEST
from signer.models import Descriptor
from signer.payload import build_payload
from signer.signers.local import LocalSigner
from tests.servers.notation import Notation
from tests.verifier import pki

# key kind -> the hash of the signature algorithm it implies (PS256 ... ES512)
HASH_OF_KIND = {
    "rsa2048": "sha256",
    "rsa3072": "sha384",
    "rsa4096": "sha512",
    "p256": "sha256",
    "p384": "sha384",
    "p521": "sha512",
}
SUBJECT = Descriptor(OCI_MANIFEST, "sha256:" + "ab" * 32, 1234)


def signing_chain(
    kind: str, *, not_before: datetime = pki.NOT_BEFORE, not_after: datetime = pki.NOT_AFTER
) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
    """A Notary-conformant leaf of key ``kind`` under a test root: (key, [leaf, root])."""
    root_key = pki.key("p384")
    root_name = pki.name("Test Signing Root")
    root = pki.certificate(root_key, root_name, ca=True)
    key = pki.key(kind)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    leaf = pki.certificate(
        key,
        pki.name(f"Test Signer {kind}"),
        issuer_key=root_key,
        issuer=root_name,
        not_before=not_before,
        not_after=not_after,
    )
    return key, [leaf, root]


@dataclass(frozen=True)
class Signed:
    envelope: bytes
    signature: bytes
    hash_name: str
    chain: list[x509.Certificate]


def signed_envelope(
    kind: str = "rsa2048",
    *,
    signing_time: datetime | None = None,
    not_before: datetime = pki.NOT_BEFORE,
    not_after: datetime = pki.NOT_AFTER,
    subject: Descriptor = SUBJECT,
) -> Signed:
    key, chain = signing_chain(kind, not_before=not_before, not_after=not_after)
    envelope = build_envelope(
        build_payload(subject),
        LocalSigner(key, chain),
        signing_time=signing_time or datetime.now().astimezone(),
    )
    return Signed(envelope, parse_envelope(envelope).signature, HASH_OF_KIND[kind], chain)


def with_timestamp(envelope: bytes, token: bytes) -> bytes:
    """The envelope with ``token`` in the unprotected header, where notation puts it."""
    outer = cbor2.loads(envelope)
    protected, unprotected, payload, signature = outer.value
    unprotected[HEADER_TIMESTAMP_SIGNATURE] = token
    return bytes(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, signature])))


def write_signing_key(
    folder: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, chain: list[x509.Certificate]
) -> tuple[Path, Path]:
    """``key`` (PKCS#8) and ``chain`` (leaf first) as PEM files: (key path, chain path)."""
    key_path, chain_path = folder / "signing.key", folder / "signing.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    chain_path.write_bytes(pki.pem(*chain))
    return key_path, chain_path


def tsa_and_control_policy(notation: Notation, host: str, timestamped: str, control: str) -> None:
    """A strict trust policy where ``timestamped`` needs a timestamp (stores ``ca:signing``
    and ``tsa:tsa``) and ``control`` does not (``ca:signing`` only)."""

    def statement(name: str, repository: str, stores: list[str]) -> dict[str, object]:
        return {
            "name": name,
            "registryScopes": [f"{host}/{repository}"],
            "signatureVerification": {"level": "strict"},
            "trustStores": stores,
            "trustedIdentities": ["*"],
        }

    notation.policy(
        {
            "version": "1.0",
            "trustPolicies": [
                statement("timestamped", timestamped, ["ca:signing", "tsa:tsa"]),
                statement("control", control, ["ca:signing"]),
            ],
        }
    )
