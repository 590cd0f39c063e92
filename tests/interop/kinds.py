"""Every kind of signature the project makes, and the key each one is made with.

A kind fixes the signing key (a local key file, or a Key Vault key with one of the chain
sources the code offers), the options (expiry, user metadata, index children) and what the
envelope must then hold (algorithm, chain, expiry, annotations). Key material is the notary
vectors' (tests/fixtures/notary-vectors/certs): the same keys notation itself signed with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.servers.keyvault import KeyVaultServer, SecretFormat
from tests.signers import vectors

EntryPoint = Literal["cli", "http", "event"]
VaultMode = Literal["auto", "certificate", "secret-pem", "secret-pkcs12", "ca-bundle"]
ENTRY_POINTS: tuple[EntryPoint, ...] = ("cli", "http", "event")


@dataclass(frozen=True)
class Kind:
    name: str
    material: str  # a folder of the vectors' certs: key.pem, chain.pem (leaf first)
    algorithm: str
    vault: VaultMode | None = None
    expiry: timedelta | None = None
    user_metadata: Mapping[str, str] = field(default_factory=dict)
    index_children: bool = False

    @property
    def entry_points(self) -> tuple[EntryPoint, ...]:
        # the CLI signs what it is given; only the app walks an index (SIGNER_SIGN_INDEX_CHILDREN)
        return ("http", "event") if self.index_children else ENTRY_POINTS

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The x5chain the envelope must carry, whatever source the signer read it from."""
        return vectors.chain(self.material)


KINDS: tuple[Kind, ...] = (
    Kind("PS256", "rsa2048-chain", "PS256"),
    Kind("PS384", "rsa3072", "PS384"),
    Kind("PS512", "rsa4096", "PS512"),
    Kind("ES256", "ec-p256", "ES256"),
    Kind("ES384", "ec-p384", "ES384"),
    Kind("ES512", "ec-p521", "ES512"),
    # Key Vault, one kind per chain source (a self-signed certificate; a CA-issued one whose
    # chain is in the certificate's secret, PEM root first or PKCS#12; a leaf plus a CA file)
    Kind("vault-certificate", "rsa2048-selfsigned", "PS256", vault="certificate"),
    Kind("vault-secret-pem", "rsa3072", "PS384", vault="secret-pem"),
    Kind("vault-secret-pkcs12", "ec-p384", "ES384", vault="secret-pkcs12"),
    Kind("vault-ca-bundle", "rsa2048-chain", "PS256", vault="ca-bundle"),
    # the default (no flag, no setting): what both seed tutorials' certificates get
    Kind("vault-auto-self-signed", "rsa2048-selfsigned", "PS256", vault="auto"),
    Kind("vault-auto-ca-issued", "rsa3072", "PS384", vault="auto"),
    Kind("expiry", "ec-p256", "ES256", expiry=timedelta(hours=24)),
    Kind(
        "user-metadata",
        "rsa2048-selfsigned",
        "PS256",
        user_metadata={"env": "prod", "team": "core"},
    ),
    Kind("index-children", "ec-p521", "ES512", index_children=True),
)


@dataclass(frozen=True)
class SigningKey:
    """The same key as CLI flags and as app settings."""

    cli_flags: tuple[str, ...]
    settings: Mapping[str, str]


def local_key(kind: Kind) -> SigningKey:
    key, chain = vectors.path(kind.material, "key.pem"), vectors.path(kind.material, "chain.pem")
    return SigningKey(
        ("--key", str(key), "--cert", str(chain)),
        {"SIGNER_LOCAL_KEY": str(key), "SIGNER_LOCAL_CERT_CHAIN": str(chain)},
    )


def vault_key(kind: Kind, vault: KeyVaultServer, workdir: Path) -> SigningKey:
    """Put the kind's key into the vault the way its chain source expects to find it."""
    assert kind.vault is not None
    key, chain = vectors.private_key(kind.material), kind.chain
    name = kind.name
    settings = {"SIGNER_LOCAL_KEY": "", "SIGNER_LOCAL_CERT_CHAIN": ""}  # empty = unset
    if kind.vault == "auto":
        vault.add_certificate(name, key, chain)  # a CA-issued chain lands in the secret
        flags: tuple[str, ...] = ()
    elif kind.vault == "certificate":
        assert len(chain) == 1, "the certificate source is for a self-signed certificate"
        vault.add_certificate(name, key, chain)
        flags = ("--self-signed",)
        settings["SIGNER_CERT_CHAIN_SOURCE"] = "certificate"
    elif kind.vault in ("secret-pem", "secret-pkcs12"):
        secret_format: SecretFormat = "pem" if kind.vault == "secret-pem" else "pkcs12"
        vault.add_certificate(name, key, chain, secret_format=secret_format, secret_root_first=True)
        flags = ("--chain-from-secret",)
        settings["SIGNER_CERT_CHAIN_SOURCE"] = "secret"
    else:  # a leaf merged alone; intermediates and root in a file beside the signer
        vault.add_certificate(name, key, chain[:1])
        bundle = workdir / "ca-bundle.pem"
        bundle.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain[1:]))
        flags = ("--ca-certs", str(bundle))
        settings.update(SIGNER_CERT_CHAIN_SOURCE="ca-bundle", SIGNER_CA_BUNDLE=str(bundle))
    key_id = vault.key_id(name)
    settings["SIGNER_KEY_ID"] = key_id
    return SigningKey(("--key-id", key_id, *flags), settings)
