"""Build registry clients and signers from plain options (shared by the CLI and the app)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from azure.core.credentials import TokenCredential

from signer.errors import ConfigurationError
from signer.http.urls import is_loopback
from signer.registry import AcrAuth, AnonymousAuth, BasicAuth, RegistryAuth, RegistryClient
from signer.signers.base import Signer
from signer.signers.local import LocalSigner

if TYPE_CHECKING:
    from signer.timestamp import Timestamper

AuthMode = Literal["entra", "basic", "anonymous"]


@dataclass(frozen=True)
class RegistryOptions:
    registry: str
    auth: AuthMode = "anonymous"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    insecure: bool = False
    timeout: float = 10.0
    referrers_tag_cleanup: bool = False


def check_entra_transport(registry: str, insecure: bool) -> None:
    """Entra auth over plain http only to a loopback stand-in: the token goes in clear."""
    if insecure and not is_loopback(registry):
        raise ConfigurationError(
            f"Entra ID registry auth over plain http to {registry} would send the identity's "
            "token in clear text: use https, or basic/anonymous auth for a local registry"
        )


def registry_auth(
    options: RegistryOptions, credential: Callable[[], TokenCredential]
) -> RegistryAuth:
    if options.auth == "entra":
        check_entra_transport(options.registry, options.insecure)
        return AcrAuth(credential())
    if options.auth == "basic":
        if not (options.username and options.password):
            raise ConfigurationError("basic registry auth needs a username and a password")
        return BasicAuth(options.username, options.password)
    return AnonymousAuth()


def open_registry(
    options: RegistryOptions, credential: Callable[[], TokenCredential]
) -> RegistryClient:
    return RegistryClient(
        options.registry,
        auth=registry_auth(options, credential),
        insecure=options.insecure,
        timeout=options.timeout,
        referrers_tag_cleanup=options.referrers_tag_cleanup,
    )


@dataclass(frozen=True)
class SignerOptions:
    """Either a local key and chain (development), or a Key Vault key id."""

    local_key: Path | None = None
    local_chain: Path | None = None
    key_id: str | None = None
    chain_source: str = "auto"
    ca_bundle: Path | None = None
    refresh_seconds: float = 3600.0


def open_signer(options: SignerOptions, credential: Callable[[], TokenCredential]) -> Signer:
    if options.key_id:
        # imported here: the Key Vault SDK is only loaded when a vault key is used
        from signer.signers.keyvault import KeyVaultSigner  # noqa: PLC0415

        return KeyVaultSigner(
            options.key_id,
            credential=credential(),
            chain_source=options.chain_source,
            ca_bundle_path=options.ca_bundle,
            refresh_seconds=options.refresh_seconds,
        )
    if options.local_key and options.local_chain:
        return LocalSigner.from_files(options.local_key, options.local_chain)
    raise ConfigurationError("no signing key: give a Key Vault key id, or a local key and chain")


def open_timestamper(url: str | None, root_certificate: Path | None) -> Timestamper | None:
    """The TSA client for ``--timestamp-url``/``--timestamp-root-cert`` (both or neither,
    as notation requires), or None when signatures are not timestamped."""
    if not url and not root_certificate:
        return None
    if not url or not root_certificate:
        raise ConfigurationError(
            "a timestamp URL and the TSA's root certificate file go together "
            "(notation: --timestamp-url with --timestamp-root-cert)"
        )
    # imported here: the ASN.1 code is only loaded when signatures are timestamped
    from signer.timestamp import Timestamper, load_root_certificate  # noqa: PLC0415

    source = f"TSA root certificate {root_certificate}"
    try:
        data = root_certificate.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{source}: cannot read it ({exc.strerror})") from None
    return Timestamper(url, [load_root_certificate(data, source)])
