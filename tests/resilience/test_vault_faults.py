"""Key Vault faults between the function app and the local HTTPS Key Vault.

The fault proxy terminates TLS with its own throwaway CA and forwards to the local Key
Vault server (whose answers carry absolute key ids, so the proxy rewrites the vault's
origin to its own in response bodies, and nothing else). The vault holds the dev key and
certificate, so the dev trust store verifies what it signs. Azure Functions has no way
to pass ``connection_verify``, so the app's parts are built the way a worker builds them
(``shared.runtime``) and only the signer is swapped for a KeyVaultSigner that trusts the
proxy's CA; the credential is the worker's own (ManagedIdentityCredential against the
local identity endpoint).
"""

from __future__ import annotations

import time

import pytest

from scripts.sample_events import push_event
from signer.errors import TransientError, TransientKeyVaultError
from tests.plugins.app import SignerApp
from tests.resilience.helpers import VAULT_READ_TIMEOUT, deliver_until_acknowledged
from tests.servers.fault_proxy import FaultProxy
from tests.servers.images import PushedImage
from tests.servers.keyvault import KeyVaultServer
from tests.servers.msi import ManagedIdentityServer

SIGN = r"^/keys/signer/[0-9a-f]+/sign\?"
GET_CERTIFICATE = r"^/certificates/signer[/?]"


def _image(app: SignerApp, repository: str) -> tuple[PushedImage, dict[str, object]]:
    image = app.pusher.push_image(repository, "v1")
    event = push_event(app.registry_host, repository, image.digest, event_id="evt-kv")
    return image, event


def _warm(app: SignerApp, repository: str, proxy: FaultProxy) -> None:
    """Sign one image first, so the signer holds its chain and token: only sign calls remain."""
    image, event = _image(app, repository + "-warm")
    app.deliver(event)
    assert app.verify(repository + "-warm", image.digest).verified
    proxy.clear_seen()


def _assert_signed_once(app: SignerApp, repository: str, image: PushedImage) -> None:
    assert len(app.signatures(repository, image.digest, image.size, image.media_type)) == 1
    verdict = app.verify(repository, image.digest)
    assert verdict.verified, verdict.error


def test_throttled_sign_honours_retry_after(
    vault_app: SignerApp, vault_proxy: FaultProxy, repository_name: str
) -> None:
    _warm(vault_app, repository_name, vault_proxy)
    image, event = _image(vault_app, repository_name)
    vault_proxy.fail(429, method="POST", path=SIGN, retry_after=1)
    started = time.monotonic()

    vault_app.deliver(event)

    assert time.monotonic() - started >= 0.9
    assert vault_proxy.count("POST", SIGN) == 2
    _assert_signed_once(vault_app, repository_name, image)
    [row] = vault_app.history(image.digest)
    assert row["status"] == "signed"
    assert row["keyVersion"]  # the Key Vault key version went into the ledger


@pytest.mark.parametrize(
    "fault",
    ["reset", "stall", "reset-after-signing", "503-once"],
)
def test_sign_call_faults_are_retried(
    vault_app: SignerApp, vault_proxy: FaultProxy, repository_name: str, fault: str
) -> None:
    _warm(vault_app, repository_name, vault_proxy)
    image, event = _image(vault_app, repository_name)
    if fault == "reset":
        vault_proxy.reset(method="POST", path=SIGN)
    elif fault == "stall":
        vault_proxy.stall(VAULT_READ_TIMEOUT + 1.5, method="POST", path=SIGN)
    elif fault == "reset-after-signing":  # the vault signed, the answer never came
        vault_proxy.reset(method="POST", path=SIGN, after_forward=True)
    else:
        vault_proxy.fail(503, method="POST", path=SIGN)

    vault_app.deliver(event)

    assert vault_proxy.count("POST", SIGN) == 2
    _assert_signed_once(vault_app, repository_name, image)


@pytest.mark.parametrize(
    ("method", "path", "warm"),
    [("POST", SIGN, True), ("GET", GET_CERTIFICATE, False)],
    ids=["sign", "certificate-read-on-a-cold-worker"],
)
def test_vault_unavailable_is_transient_then_redelivery_signs(
    *,
    vault_app: SignerApp,
    vault_proxy: FaultProxy,
    repository_name: str,
    method: str,
    path: str,
    warm: bool,
) -> None:
    if warm:
        _warm(vault_app, repository_name, vault_proxy)
    image, event = _image(vault_app, repository_name)
    vault_proxy.fail(503, method=method, path=path, times=100)

    with pytest.raises(TransientKeyVaultError, match="HTTP 503") as raised:
        vault_app.deliver(event)

    assert raised.value.code == "key_vault_unavailable"
    # retry_total=2: 3 attempts per load or sign, once per delivery, cold or warm (the
    # ledger's key version is read after the attempt, from what it loaded)
    assert vault_proxy.count(method, path) == 3
    assert vault_app.signatures(repository_name, image.digest, image.size, image.media_type) == []
    [failed] = vault_app.history(image.digest)
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("transient, will be retried:")

    vault_proxy.clear_rules()
    vault_app.deliver(event)

    _assert_signed_once(vault_app, repository_name, image)
    assert [r["status"] for r in vault_app.history(image.digest)] == ["signed", "failed"]


def test_identity_endpoint_down_on_a_cold_worker_is_transient_then_signs(
    vault_app: SignerApp,
    vault_proxy: FaultProxy,
    msi_server: ManagedIdentityServer,
    repository_name: str,
) -> None:
    image, event = _image(vault_app, repository_name)
    msi_server.fail_next(times=50, status=503)

    with pytest.raises(TransientError, match="access token"):
        vault_app.deliver(event)
    assert vault_app.signatures(repository_name, image.digest, image.size, image.media_type) == []

    with msi_server._lock:
        msi_server._fail_next.clear()
    attempts = deliver_until_acknowledged(lambda: vault_app.deliver(event), attempts=8, pause=1.0)

    _assert_signed_once(vault_app, repository_name, image)
    statuses = [r["status"] for r in vault_app.history(image.digest)]
    assert statuses == ["signed"] + ["failed"] * attempts


def test_missing_permission_on_a_cold_worker_is_recorded_and_acknowledged(
    vault_app: SignerApp, keyvault_server: KeyVaultServer, repository_name: str
) -> None:
    """Permanent: the vault refuses to read the certificate. Recorded, not redelivered."""
    keyvault_server.denied.add("certificates/get")
    image, event = _image(vault_app, repository_name)

    vault_app.deliver(event)  # acknowledged: retrying cannot help until someone grants it

    assert vault_app.signatures(repository_name, image.digest, image.size, image.media_type) == []
    [failed] = vault_app.history(image.digest)
    assert failed["status"] == "failed"
    assert "certificates/get" in failed["reason"]
    assert "Key Vault Certificate User" in failed["reason"]
