"""Settings fail fast and name the bad setting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from scripts.devcert import ensure_dev_certificate
from shared.settings import Settings
from signer.errors import ConfigurationError
from signer.options import parse_duration

BASE = {
    "SIGNER_REGISTRY": "localhost:5000",
    "SIGNER_LOCAL_KEY": "/k.pem",
    "SIGNER_LOCAL_CERT_CHAIN": "/c.pem",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}


def settings(**overrides: str) -> Settings:
    env = dict(BASE)
    for key, value in overrides.items():
        if value == "<unset>":
            env.pop(key, None)
        else:
            env[key] = value
    return Settings.from_env(env)


def test_defaults() -> None:
    s = settings()
    assert s.registry == "localhost:5000"
    assert s.registry_auth == "anonymous"
    assert s.push_filter.include_repositories == ("*",)
    assert s.push_filter.exclude_repositories == ()
    assert not s.push_filter.sign_untagged
    assert not s.sign_index_children
    assert s.cert_chain_source == "auto"  # as notation-azure-kv: no setting for either flow
    assert s.chain_refresh_seconds == 3600
    assert s.expiry is None
    assert s.ledger_table == "signingledger"
    assert s.http_timeout == 10.0
    assert s.storage.connection_string == "UseDevelopmentStorage=true"
    assert s.timestamp_url is None and s.timestamp_root_cert is None


def test_acr_defaults_to_entra_auth() -> None:
    assert settings(SIGNER_REGISTRY="demo.azurecr.io").registry_auth == "entra"


def test_password_is_not_in_repr() -> None:
    s = settings(
        SIGNER_REGISTRY_AUTH="basic",
        SIGNER_REGISTRY_USERNAME="u",
        SIGNER_REGISTRY_PASSWORD="hunter2-secret",
    )
    assert "hunter2-secret" not in repr(s)


def test_identity_based_storage() -> None:
    s = settings(
        AzureWebJobsStorage="<unset>",
        AzureWebJobsStorage__accountName="acct",
        AzureWebJobsStorage__clientId="cid",
    )
    assert s.storage.connection_string is None
    assert s.storage.table_service_uri == "https://acct.table.core.windows.net"
    assert s.storage.client_id == "cid"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SIGNER_REGISTRY": "<unset>"}, "SIGNER_REGISTRY is required"),
        ({"SIGNER_REGISTRY": "https://demo.azurecr.io"}, "SIGNER_REGISTRY: invalid registry host"),
        (
            {"SIGNER_INSECURE_REGISTRY": "maybe"},
            "SIGNER_INSECURE_REGISTRY: 'maybe' is not a boolean",
        ),
        ({"SIGNER_REGISTRY_AUTH": "oauth"}, "SIGNER_REGISTRY_AUTH: 'oauth' is not one of"),
        ({"SIGNER_REGISTRY_AUTH": "basic"}, "needs SIGNER_REGISTRY_USERNAME"),
        ({"SIGNER_KEY_ID": "https://v.vault.azure.net/keys/k"}, "not both"),
        ({"SIGNER_LOCAL_KEY": "<unset>"}, "no signing key"),
        ({"SIGNER_CERT_CHAIN_SOURCE": "pfx"}, "SIGNER_CERT_CHAIN_SOURCE"),
        ({"SIGNER_CERT_CHAIN_SOURCE": "ca-bundle"}, "needs SIGNER_CA_BUNDLE"),
        ({"SIGNER_CHAIN_REFRESH_SECONDS": "soon"}, "SIGNER_CHAIN_REFRESH_SECONDS: 'soon'"),
        ({"SIGNER_CHAIN_REFRESH_SECONDS": "5"}, "must be at least 60"),
        ({"SIGNER_EXPIRY": "1 year"}, "SIGNER_EXPIRY: '1 year' is not a duration"),
        ({"SIGNER_USER_METADATA": "env"}, "SIGNER_USER_METADATA: 'env' is not key=value"),
        ({"SIGNER_USER_METADATA": "a=1,a=2"}, "given twice"),
        ({"SIGNER_LEDGER_TABLE": "bad-name"}, "SIGNER_LEDGER_TABLE"),
        ({"SIGNER_OUTCOME_TOPIC_ENDPOINT": "http://x"}, "must be an https:// URL"),
        ({"AzureWebJobsStorage": "<unset>"}, "AzureWebJobsStorage"),
    ],
)
def test_bad_settings_are_named(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        settings(**overrides)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8760h", timedelta(days=365)),
        ("90d", timedelta(days=90)),
        ("1h30m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "10", "-5h", "0h", "5y", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_duration(text)


def test_typo_in_filters_warns_at_startup() -> None:
    s = settings(SIGNER_INCLUDE_REPOSITORIES="Team-A/*")
    assert any("Team-A/*" in w for w in s.startup_warnings())
    s = settings(SIGNER_EXCLUDE_REPOSITORIES="*")
    assert any("nothing will be signed" in w for w in s.startup_warnings())
    s = settings(SIGNER_INCLUDE_REPOSITORIES="team-a/*")
    assert not [w for w in s.startup_warnings() if "pattern" in w]


def test_timestamp_url_and_root_go_together() -> None:
    s = settings(SIGNER_TIMESTAMP_URL="http://tsa.example/", SIGNER_TIMESTAMP_ROOT_CERT="/r.pem")
    assert s.timestamp_url == "http://tsa.example/" and str(s.timestamp_root_cert) == "/r.pem"
    for alone in ({"SIGNER_TIMESTAMP_URL": "http://tsa.example/"},
                  {"SIGNER_TIMESTAMP_ROOT_CERT": "/r.pem"}):  # fmt: skip
        with pytest.raises(ConfigurationError, match="go together"):
            settings(**alone)


def test_a_bad_tsa_root_fails_start_up_naming_the_settings(tmp_path: Path) -> None:
    from shared.runtime import build_handlers  # noqa: PLC0415 - builds real clients

    not_a_root = tmp_path / "leaf.pem"
    not_a_root.write_text("not a certificate")
    env = dict(BASE, SIGNER_TIMESTAMP_URL="http://127.0.0.1:1/",
               SIGNER_TIMESTAMP_ROOT_CERT=str(not_a_root))  # fmt: skip
    dev = ensure_dev_certificate(tmp_path / "dev")
    env.update(SIGNER_LOCAL_KEY=str(dev["key"]), SIGNER_LOCAL_CERT_CHAIN=str(dev["chain"]))
    with pytest.raises(ConfigurationError, match=r"SIGNER_TIMESTAMP_ROOT_CERT.*not a PEM or DER"):
        build_handlers(Settings.from_env(env))
    with pytest.raises(ConfigurationError, match=r"SIGNER_TIMESTAMP_ROOT_CERT.*cannot read"):
        build_handlers(
            Settings.from_env(dict(env, SIGNER_TIMESTAMP_ROOT_CERT=str(tmp_path / "missing")))
        )
