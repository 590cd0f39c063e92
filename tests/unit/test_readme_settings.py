"""The README's configuration table lists every app setting and nothing stale.

A setting added to ``shared.setting_names`` without a row, or a row left behind for
a setting that is gone (as SIGNER_LEASE_CONTAINER was, after the blob leases were
removed), fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from shared.setting_names import SIGNER_SETTINGS

README = Path(__file__).resolve().parents[2] / "README.md"


def _table_settings() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `SIGNER_"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`(SIGNER_[A-Z_]+)`", first_cell))
    return names


def test_every_setting_has_a_row_and_every_row_is_a_setting() -> None:
    rows = _table_settings()
    assert set(SIGNER_SETTINGS) - rows == set(), "settings without a README row"
    assert rows - set(SIGNER_SETTINGS) == set(), "README rows for settings that do not exist"
