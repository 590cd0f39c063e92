"""Key Vault calls per signature: the real ``KeyVaultSigner`` against the local Key Vault.

The local vault (``tests/servers/keyvault.py``, HTTPS with a throwaway CA) holds the
dev certificate and key; the credential is the real ``ManagedIdentityCredential``
talking to the local managed-identity endpoint (``tests/servers/msi.py``). Events go
through ``Handlers.on_event`` (docker-registry, Azurite) with that signer in place of
the local one. A second signer with a hand-driven clock shows the chain being read
once per refresh interval.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from azure.identity import ManagedIdentityCredential
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bench.images import Image
from bench.stats import summary
from scripts.sample_events import push_event
from shared.handlers import Handlers
from shared.runtime import build_components, build_handlers
from shared.settings import Settings
from signer.signers.keyvault import KeyVaultSigner
from tests.servers.keyvault import VAULT_RESOURCE, KeyVaultServer
from tests.servers.msi import IDENTITY_VARIABLES, ManagedIdentityServer

KEY_NAME = "bench-signing"
REFRESH_SECONDS = 3600.0
_KV_PATH = re.compile(r"^/(keys|certificates|secrets)/[^/]+(/[^/]+)?(/sign)?/?$")


def kv_pattern(method: str, path: str, status: int) -> str:
    match = _KV_PATH.match(path)
    if match is None:
        return f"{method} {path} -> {status}"
    kind, version, sign = match.groups()
    shape = f"/{kind}/<name>" + ("/<version>" if version else "") + (sign or "")
    return f"{method} {shape} -> {status}"


@contextmanager
def _identity_environment(msi: ManagedIdentityServer) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in IDENTITY_VARIABLES}
    for name in IDENTITY_VARIABLES:
        os.environ.pop(name, None)
    os.environ["IDENTITY_ENDPOINT"] = msi.endpoint
    os.environ["IDENTITY_HEADER"] = msi.identity_header
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def _dev_key(path: Path) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError("the dev key is neither RSA nor EC")
    return key


def deliver(handlers: Handlers, registry_host: str, image: Image) -> tuple[str, float]:
    """One push event through ``on_event``: (status of the result, milliseconds taken)."""
    body = push_event(registry_host, image.repository, image.digest, tag=image.tag, size=image.size)
    start = time.perf_counter()
    results = handlers.on_event(body["id"], body["eventType"], body["data"])
    elapsed = (time.perf_counter() - start) * 1000
    return (results[0].status if results else "none"), elapsed


def _handlers(settings: Settings, signer: KeyVaultSigner) -> Handlers:
    parts = replace(build_components(settings), signer=signer)
    return build_handlers(settings, components=parts)


def measure_keyvault(
    settings: Settings,
    dev: dict[str, Path],
    registry_host: str,
    images: Sequence[Image],
    refresh_images: Sequence[Image],
) -> dict[str, Any]:
    """Calls by operation for the first signature and per signature after; chain refresh."""
    if len(images) < 2:
        raise ValueError("need at least two images")
    key = _dev_key(dev["key"])
    chain = x509.load_pem_x509_certificates(dev["chain"].read_bytes())
    with (
        ManagedIdentityServer() as msi,
        _identity_environment(msi),
        KeyVaultServer(accept_token=msi.validator(VAULT_RESOURCE)) as vault,
    ):
        vault.add_certificate(KEY_NAME, key, chain)

        def signer(clock: Callable[[], float] = time.monotonic) -> KeyVaultSigner:
            return KeyVaultSigner(
                vault.key_id(KEY_NAME),
                credential=ManagedIdentityCredential(),
                refresh_seconds=REFRESH_SECONDS,
                clock=clock,
                **vault.client_options(),
            )

        handlers = _handlers(settings, signer())
        statuses: Counter[str] = Counter()

        def window(batch: Sequence[Image]) -> dict[str, Any]:
            vault.reset_counts()
            msi_before = msi.calls
            latencies = []
            for image in batch:
                status, elapsed = deliver(handlers, registry_host, image)
                statuses[status] += 1
                latencies.append(elapsed)
            n = len(batch)
            http = Counter(kv_pattern(m, p, s) for m, p, s in vault.log)
            return {
                "signatures": n,
                "operations_per_signature": {
                    k: round(v / n, 3) for k, v in sorted(vault.counts.items())
                },
                "requests_per_signature": {k: round(v / n, 3) for k, v in sorted(http.items())},
                "requests_total_per_signature": round(len(vault.log) / n, 3),
                "token_requests": msi.calls - msi_before,
                "latency_ms": summary(latencies),
            }

        first = window(images[:1])
        steady = window(images[1:])

        # the chain is read once per refresh interval: drive a clock past one interval
        clock = _Clock()
        handlers = _handlers(settings, signer(clock))
        vault.reset_counts()
        half = len(refresh_images) // 2
        for index, image in enumerate(refresh_images):
            if index == half:
                clock.offset += REFRESH_SECONDS + 1
            status, _ = deliver(handlers, registry_host, image)
            statuses[status] += 1
        refresh = {
            "signatures": len(refresh_images),
            "refresh_seconds": REFRESH_SECONDS,
            "intervals_spanned": 2,
            "operations": dict(sorted(vault.counts.items())),
        }
    return {
        "first_signature": first,
        "steady": steady,
        "refresh": refresh,
        "statuses": dict(statuses),
    }
