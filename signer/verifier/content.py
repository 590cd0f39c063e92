"""The format-neutral envelope every parser returns (notation-core-go's EnvelopeContent)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from signer.algorithms import Algorithm


@dataclass(frozen=True)
class Envelope:
    """A structurally valid envelope; the signature is not checked yet (see verify_integrity)."""

    media_type: str
    raw: bytes
    payload: bytes
    signature: bytes
    signed_bytes: bytes  # exactly what the signature covers
    algorithm: Algorithm
    signing_scheme: str
    signing_time: datetime
    expiry: datetime | None
    chain: tuple[x509.Certificate, ...]
    signing_agent: str | None
    timestamp_signature: bytes | None
    protected: Mapping[Any, Any]  # decoded protected header, for extended attributes
    critical: tuple[object, ...]
