"""local.settings.sample.json lists every setting, and its values work as they are."""

from __future__ import annotations

import json
from pathlib import Path

from shared.setting_names import PLATFORM_SETTINGS, SIGNER_SETTINGS
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def sample_values() -> dict[str, str]:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert isinstance(values, dict)
    return values


def test_sample_lists_every_setting_and_nothing_stale() -> None:
    values = sample_values()
    names = set(values) - {"FUNCTIONS_WORKER_RUNTIME"}
    assert names == set(SIGNER_SETTINGS) | set(PLATFORM_SETTINGS)


def test_sample_parses_into_local_development_settings() -> None:
    settings = Settings.from_env(sample_values())
    assert settings.registry == "127.0.0.1:5000"
    assert settings.insecure_registry
    assert settings.local_key == Path(".dev/signing/key.pem")
    assert settings.key_id is None
    assert settings.storage.connection_string == "UseDevelopmentStorage=true"
