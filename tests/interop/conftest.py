"""Fixtures of the interoperability tier: both registries, both verifiers, the local vault.

``interop_registry`` runs a test once on olareg (referrers API, one per session) and once on
Debian's docker-registry (tag schema). ``verifiers`` pairs the real notation with our
verifier over one configuration. ``local_vault`` is the local HTTPS Key Vault with every
KeyVaultSigner that production code builds made to trust it: the Azure SDK checks that a
vault's challenge comes from ``*.vault.azure.net`` and needs the vault's CA, and neither
the CLI nor the app has a setting for either (a real vault needs neither), so the signer
class the production wiring imports is a subclass that passes
``KeyVaultServer.client_options()``; everything else, settings and flags included, is real.
"""

from __future__ import annotations

from typing import Any

import pytest

import signer.signers.keyvault as keyvault_module
from tests.interop.registries import InteropRegistry
from tests.interop.verdicts import Verifiers
from tests.servers.docker_registry import DockerRegistry
from tests.servers.keyvault import KeyVaultServer
from tests.servers.notation import Notation
from tests.servers.olareg import Olareg


@pytest.fixture(params=["docker-registry", "olareg"])
def interop_registry(
    request: pytest.FixtureRequest, olareg: Olareg, docker_registry: DockerRegistry
) -> InteropRegistry:
    # both are session-wide and the tier needs both anyway; naming both here also tells
    # the reference-tools plugin that every case needs olareg
    return InteropRegistry(request.param, olareg if request.param == "olareg" else docker_registry)


@pytest.fixture
def verifiers(notation: Notation, interop_registry: InteropRegistry) -> Verifiers:
    return Verifiers(notation, interop_registry)


@pytest.fixture
def local_vault(keyvault_server: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> KeyVaultServer:
    options = keyvault_server.client_options()

    class LocalVaultSigner(keyvault_module.KeyVaultSigner):
        def __init__(self, key_id: str, **kwargs: Any) -> None:
            super().__init__(key_id, **{**options, "retry_backoff_factor": 0.01, **kwargs})

    monkeypatch.setattr(keyvault_module, "KeyVaultSigner", LocalVaultSigner)
    return keyvault_server
