"""The notation v1.3.2 interop vectors (tests/fixtures/notary-vectors), as test cases."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from signer.mediatypes import COSE_MEDIA_TYPE, JWS_MEDIA_TYPE
from signer.models import Descriptor
from signer.verifier import Verifier

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "notary-vectors"
# Before the expiry vector's io.cncf.notary.expiry (2027-11-22T04:16:40Z), after signing.
NOW = datetime(2026, 11, 22, 6, 0, 0, tzinfo=UTC)
# notation v1.3.2 passes these; signature-specification.md ("Extended attributes")
# says unknown critical attributes MUST fail verification. We follow the spec.
SPEC_REJECTS = frozenset({"unknown-critical-header", "unknown-critical-int-label"})
SIGNING_AGENT = "notation-go/1.3.2"


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    path: Path
    meta: dict[str, Any]  # the manifest entry
    case: dict[str, Any]  # case.json

    @property
    def expected(self) -> str:
        return str(self.meta["expected_verdict"])

    @property
    def envelope_path(self) -> Path:
        return next(p for p in self.path.iterdir() if p.name.startswith("envelope."))

    @property
    def envelope(self) -> bytes:
        return self.envelope_path.read_bytes()

    @property
    def media_type(self) -> str:
        return COSE_MEDIA_TYPE if self.envelope_path.suffix == ".cose" else JWS_MEDIA_TYPE

    @property
    def reference(self) -> str:
        return str(self.case["reference"])

    @property
    def subject(self) -> Descriptor:
        return Descriptor.from_json(json.loads((self.path / "subject-descriptor.json").read_text()))

    @property
    def policy(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.path / "trustpolicy.json").read_text())
        return doc

    @property
    def cert_dir(self) -> Path | None:
        name = self.case.get("cert_dir") or self.meta.get("cert_dir")
        return None if not name else ROOT / "certs" / Path(str(name)).name

    def verifier(self) -> Verifier:
        return Verifier(self.policy, self.path / "truststore", now=lambda: NOW)

    def verify_runs(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = json.loads((self.path / "verify.json").read_text())
        return runs if isinstance(runs, list) else [runs]


@cache
def cases() -> tuple[Case, ...]:
    manifest = json.loads((ROOT / "manifest.json").read_text())
    return tuple(
        Case(
            name=m["name"],
            category=m["category"],
            path=ROOT / m["path"],
            meta=m,
            case=json.loads((ROOT / m["path"] / "case.json").read_text()),
        )
        for m in manifest["cases"]
    )


def case(name: str) -> Case:
    return next(c for c in cases() if c.name == name)


def user_metadata_of(command: list[str]) -> dict[str, str]:
    """The ``--user-metadata k=v`` pairs of a recorded notation command line."""
    out: dict[str, str] = {}
    for flag, value in itertools.pairwise(command):
        if flag == "--user-metadata":
            key, _, val = value.partition("=")
            out[key] = val
    return out
