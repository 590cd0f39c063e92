"""App settings: parsed once from the environment into a frozen, typed object.

A bad value fails start-up with a message that names the setting, instead of a
stack trace on the first event. Every name is listed in ``shared.setting_names``
(the Bicep template and local.settings.sample.json are tested against it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal, cast

from signer.connect import check_entra_transport
from signer.errors import ConfigurationError, InvalidReferenceError
from signer.options import parse_duration, parse_metadata
from signer.policy import PushFilter
from signer.reference import validate_registry

RegistryAuthMode = Literal["entra", "basic", "anonymous"]
ChainSource = Literal["auto", "certificate", "secret", "ca-bundle"]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class _Env:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str = "") -> str:
        return self.env.get(name, default).strip()

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.env.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigurationError(f"{name}: {raw!r} is not a boolean (use true or false)")

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name}: {raw!r} is not an integer") from None
        if value < minimum:
            raise ConfigurationError(f"{name}: must be at least {minimum}")
        return value

    def patterns(self, name: str, default: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.text(name, default).split(",") if p.strip())

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).lower() or default
        if value not in choices:
            raise ConfigurationError(f"{name}: {value!r} is not one of {', '.join(choices)}")
        return value


@dataclass(frozen=True)
class StorageSettings:
    """The app's storage (the ledger table): a connection string or identity-based."""

    connection_string: str | None = field(default=None, repr=False)
    table_service_uri: str | None = None
    client_id: str | None = None

    @classmethod
    def from_env(cls, env: _Env) -> StorageSettings:
        conn = env.optional("AzureWebJobsStorage")
        if conn:
            return cls(connection_string=conn)
        account = env.optional("AzureWebJobsStorage__accountName")
        table = env.optional("AzureWebJobsStorage__tableServiceUri")
        if account:
            table = table or f"https://{account}.table.core.windows.net"
        if not table:
            raise ConfigurationError(
                "AzureWebJobsStorage: set a connection string (UseDevelopmentStorage=true "
                "locally) or AzureWebJobsStorage__accountName (or __tableServiceUri) for an "
                "identity-based connection"
            )
        return cls(
            table_service_uri=table,
            client_id=env.optional("AzureWebJobsStorage__clientId"),
        )


@dataclass(frozen=True)
class Settings:
    registry: str
    insecure_registry: bool
    registry_auth: RegistryAuthMode
    registry_username: str | None
    registry_password: str | None = field(repr=False)
    push_filter: PushFilter
    sign_index_children: bool
    key_id: str | None
    cert_chain_source: ChainSource
    ca_bundle: Path | None
    chain_refresh_seconds: int
    timestamp_url: str | None
    timestamp_root_cert: Path | None
    local_key: Path | None
    local_cert_chain: Path | None
    managed_identity_client_id: str | None
    expiry: timedelta | None
    user_metadata: Mapping[str, str]
    ledger_table: str
    outcome_topic_endpoint: str | None
    referrers_tag_cleanup: bool
    http_timeout: float
    storage: StorageSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = _Env(environ)
        registry_raw = env.text("SIGNER_REGISTRY")
        if not registry_raw:
            raise ConfigurationError(
                "SIGNER_REGISTRY is required: the registry login server this signer serves "
                "(e.g. myregistry.azurecr.io)"
            )
        try:
            registry = validate_registry(registry_raw)
        except InvalidReferenceError as exc:
            raise ConfigurationError(f"SIGNER_REGISTRY: {exc}") from None
        default_auth = (
            "entra"
            if registry.endswith((".azurecr.io", ".azurecr.cn", ".azurecr.us"))
            else "anonymous"
        )
        auth = env.choice("SIGNER_REGISTRY_AUTH", default_auth, ("entra", "basic", "anonymous"))
        if auth == "entra":
            check_entra_transport(registry, env.flag("SIGNER_INSECURE_REGISTRY"))
        username = env.optional("SIGNER_REGISTRY_USERNAME")
        password = env.optional("SIGNER_REGISTRY_PASSWORD")
        if auth == "basic" and not (username and password):
            raise ConfigurationError(
                "SIGNER_REGISTRY_AUTH=basic needs SIGNER_REGISTRY_USERNAME and "
                "SIGNER_REGISTRY_PASSWORD"
            )

        key_id = env.optional("SIGNER_KEY_ID")
        local_key = env.optional("SIGNER_LOCAL_KEY")
        local_chain = env.optional("SIGNER_LOCAL_CERT_CHAIN")
        if key_id and (local_key or local_chain):
            raise ConfigurationError(
                "set either SIGNER_KEY_ID (Key Vault) or SIGNER_LOCAL_KEY + "
                "SIGNER_LOCAL_CERT_CHAIN (local development), not both"
            )
        if not key_id and not (local_key and local_chain):
            raise ConfigurationError(
                "no signing key: set SIGNER_KEY_ID to a Key Vault key id, or "
                "SIGNER_LOCAL_KEY and SIGNER_LOCAL_CERT_CHAIN to PEM files for local development"
            )
        chain_source = cast(
            ChainSource,
            env.choice(
                "SIGNER_CERT_CHAIN_SOURCE", "auto", ("auto", "certificate", "secret", "ca-bundle")
            ),
        )
        ca_bundle = env.optional("SIGNER_CA_BUNDLE")
        if chain_source == "ca-bundle" and not ca_bundle:
            raise ConfigurationError("SIGNER_CERT_CHAIN_SOURCE=ca-bundle needs SIGNER_CA_BUNDLE")

        timestamp_url = env.optional("SIGNER_TIMESTAMP_URL")
        timestamp_root = env.optional("SIGNER_TIMESTAMP_ROOT_CERT")
        if bool(timestamp_url) != bool(timestamp_root):
            # notation: --timestamp-url and --timestamp-root-cert go together
            raise ConfigurationError(
                "SIGNER_TIMESTAMP_URL and SIGNER_TIMESTAMP_ROOT_CERT go together: the TSA's URL "
                "and a PEM file with its root certificate (its answers are checked against it)"
            )

        expiry_raw = env.text("SIGNER_EXPIRY")
        push_filter = PushFilter(
            include_repositories=env.patterns("SIGNER_INCLUDE_REPOSITORIES", "*"),
            exclude_repositories=env.patterns("SIGNER_EXCLUDE_REPOSITORIES", ""),
            include_tags=env.patterns("SIGNER_INCLUDE_TAGS", "*"),
            exclude_tags=env.patterns("SIGNER_EXCLUDE_TAGS", ""),
            sign_untagged=env.flag("SIGNER_SIGN_UNTAGGED"),
        )
        topic = env.optional("SIGNER_OUTCOME_TOPIC_ENDPOINT")
        if topic and not topic.startswith("https://"):
            raise ConfigurationError("SIGNER_OUTCOME_TOPIC_ENDPOINT must be an https:// URL")
        return cls(
            registry=registry,
            insecure_registry=env.flag("SIGNER_INSECURE_REGISTRY"),
            registry_auth=cast(RegistryAuthMode, auth),
            registry_username=username,
            registry_password=password,
            push_filter=push_filter,
            sign_index_children=env.flag("SIGNER_SIGN_INDEX_CHILDREN"),
            key_id=key_id,
            cert_chain_source=chain_source,
            ca_bundle=Path(ca_bundle) if ca_bundle else None,
            chain_refresh_seconds=env.integer("SIGNER_CHAIN_REFRESH_SECONDS", 3600, minimum=60),
            timestamp_url=timestamp_url,
            timestamp_root_cert=Path(timestamp_root) if timestamp_root else None,
            local_key=Path(local_key) if local_key else None,
            local_cert_chain=Path(local_chain) if local_chain else None,
            managed_identity_client_id=env.optional("SIGNER_MANAGED_IDENTITY_CLIENT_ID"),
            expiry=parse_duration(expiry_raw, "SIGNER_EXPIRY") if expiry_raw else None,
            user_metadata=parse_metadata(env.text("SIGNER_USER_METADATA"), "SIGNER_USER_METADATA"),
            ledger_table=_table_name(env.text("SIGNER_LEDGER_TABLE", "signingledger")),
            outcome_topic_endpoint=topic,
            referrers_tag_cleanup=env.flag("SIGNER_REFERRERS_TAG_CLEANUP"),
            http_timeout=float(env.integer("SIGNER_HTTP_TIMEOUT_SECONDS", 10)),
            storage=StorageSettings.from_env(env),
        )

    def startup_warnings(self) -> list[str]:
        """Configuration that is valid but probably not what was meant."""
        warnings = self.push_filter.suspicious_patterns()
        if self.local_key is not None:
            warnings.append(
                "signing with a local key file (SIGNER_LOCAL_KEY): for development only; "
                "use SIGNER_KEY_ID with Key Vault in production"
            )
        if self.insecure_registry:
            warnings.append(
                "SIGNER_INSECURE_REGISTRY is on: the registry is reached over plain http"
            )
        return warnings


def _table_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,62}", name):
        raise ConfigurationError(
            f"SIGNER_LEDGER_TABLE: {name!r} is not a valid table name (3-63 letters/digits)"
        )
    return name
