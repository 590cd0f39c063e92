"""What the function app imports at start stays lean: the verifier's trust-policy, inspect
and ASN.1 code load only when something uses them (signer/verifier/__init__.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import signer.verifier

ROOT = Path(__file__).resolve().parents[2]


def test_every_exported_name_resolves() -> None:
    assert set(signer.verifier.__all__) == set(signer.verifier._HOMES)
    for name in signer.verifier.__all__:
        assert getattr(signer.verifier, name) is not None


def test_importing_the_app_loads_no_verifier_policy_or_timestamp_code() -> None:
    probe = (
        "import json, sys, function_app; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('signer.verifier.', "
        "'signer.timestamp', 'asn1crypto')))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert loaded == [
        "signer.verifier.content",
        "signer.verifier.envelopes",
        "signer.verifier.jws",
    ], loaded
