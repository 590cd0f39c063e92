"""KeyVaultSigner when Key Vault misbehaves: wrong answers, throttling, outages, permissions."""

from __future__ import annotations

import time

import pytest

from signer.errors import KeyVaultError, TransientKeyVaultError
from signer.signers.keyvault import KeyVaultSigner
from tests.servers.keyvault import KeyVaultServer
from tests.servers.msi import ManagedIdentityServer
from tests.signers import vectors
from tests.signers.helpers import make_signer, verify_notary_signature

DATA = b"to be signed"


@pytest.fixture
def signer(keyvault_server: KeyVaultServer) -> KeyVaultSigner:
    """An RSA-3072 (PS384) signer, warmed up so that only sign calls remain."""
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("rsa3072"), vectors.chain("rsa3072"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret", retry_total=2)
    signer.signing_key().sign(b"warm-up")
    kv.reset_counts()
    return signer


@pytest.fixture
def ec_signer(keyvault_server: KeyVaultServer) -> KeyVaultSigner:
    kv = keyvault_server
    kv.add_certificate("e", vectors.private_key("ec-p521"), vectors.chain("ec-p521"))
    signer = make_signer(kv, kv.key_id("e"), chain_source="secret")
    signer.signing_key().sign(b"warm-up")
    kv.reset_counts()
    return signer


def _check(signer: KeyVaultSigner, signature: bytes) -> None:
    chain = list(signer.signing_key().chain)
    verify_notary_signature(chain[0], signer.signing_key().spec, DATA, signature)


@pytest.mark.parametrize("which", ["signer", "ec_signer"])
def test_answer_for_another_key_is_rejected(
    keyvault_server: KeyVaultServer, which: str, request: pytest.FixtureRequest
) -> None:
    chosen: KeyVaultSigner = request.getfixturevalue(which)
    keyvault_server.inject("sign", "wrong_kid")
    with pytest.raises(KeyVaultError, match=r"signed with key .* but .* was asked for"):
        chosen.signing_key().sign(DATA)
    assert keyvault_server.count("sign") == 1  # a wrong answer is not retried


@pytest.mark.parametrize("which", ["signer", "ec_signer"])
def test_answer_with_another_algorithm_is_rejected(
    keyvault_server: KeyVaultServer, which: str, request: pytest.FixtureRequest
) -> None:
    chosen: KeyVaultSigner = request.getfixturevalue(which)
    keyvault_server.inject("sign", "wrong_alg")
    with pytest.raises(KeyVaultError, match=r"algorithm .* but .* was asked for"):
        chosen.signing_key().sign(DATA)


@pytest.mark.parametrize("which", ["signer", "ec_signer"])
def test_signature_made_with_another_algorithm_is_caught_by_verification(
    keyvault_server: KeyVaultServer, which: str, request: pytest.FixtureRequest
) -> None:
    """Key Vault's sign answer carries only kid and value: verifying is what catches this."""
    chosen: KeyVaultSigner = request.getfixturevalue(which)
    keyvault_server.inject("sign", "wrong_alg_silent")
    with pytest.raises(KeyVaultError, match="does not verify"):
        chosen.signing_key().sign(DATA)


def test_throttling_with_retry_after_is_waited_out(
    keyvault_server: KeyVaultServer, signer: KeyVaultSigner
) -> None:
    keyvault_server.inject("sign", "throttle", retry_after=1)
    started = time.monotonic()
    signature = signer.signing_key().sign(DATA)
    assert time.monotonic() - started >= 0.9  # the SDK honoured Retry-After
    assert keyvault_server.count("sign") == 2
    _check(signer, signature)


def test_dropped_connection_on_sign_is_retried(
    keyvault_server: KeyVaultServer, signer: KeyVaultSigner
) -> None:
    keyvault_server.inject("sign", "reset")
    signature = signer.signing_key().sign(DATA)
    assert keyvault_server.count("sign") == 2
    _check(signer, signature)


def test_connection_dropping_every_time_is_transient_after_bounded_attempts(
    keyvault_server: KeyVaultServer, signer: KeyVaultSigner
) -> None:
    keyvault_server.inject("sign", "reset", times=10)
    with pytest.raises(TransientKeyVaultError, match="network error"):
        signer.signing_key().sign(DATA)
    assert keyvault_server.count("sign") == 3  # sign_attempts


def test_read_timeout_on_sign_is_retried(keyvault_server: KeyVaultServer) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("ec-p256"), vectors.chain("ec-p256"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret", read_timeout=0.3)
    signer.signing_key().sign(b"warm-up")
    kv.inject("sign", "delay", seconds=1.0)
    signature = signer.signing_key().sign(DATA)
    assert kv.count("sign") == 3  # warm-up, the slow one, the retry
    _check(signer, signature)


@pytest.mark.parametrize("status", ["503", "500"])
def test_persistent_server_errors_are_transient(
    keyvault_server: KeyVaultServer, signer: KeyVaultSigner, status: str
) -> None:
    keyvault_server.inject("sign", status, times=10)  # type: ignore[arg-type]
    with pytest.raises(TransientKeyVaultError, match=f"HTTP {status}"):
        signer.signing_key().sign(DATA)
    assert keyvault_server.count("sign") == 3  # the SDK's retry_total=2, nothing more


def test_persistent_throttling_is_transient(
    keyvault_server: KeyVaultServer, signer: KeyVaultSigner
) -> None:
    keyvault_server.inject("sign", "throttle", times=10, retry_after=0)
    with pytest.raises(TransientKeyVaultError, match="HTTP 429"):
        signer.signing_key().sign(DATA)


@pytest.mark.parametrize(
    ("permission", "role"),
    [
        ("keys/sign", "Key Vault Crypto User"),
        ("certificates/get", "Key Vault Certificate User"),
        ("secrets/get", "Key Vault Secrets User"),
    ],
)
def test_missing_permission_is_permanent_and_named(
    keyvault_server: KeyVaultServer, permission: str, role: str
) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("ec-p384"), vectors.chain("ec-p384"))
    kv.denied.add(permission)
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret")
    with pytest.raises(KeyVaultError) as caught:
        signer.signing_key().sign(DATA)
    assert permission in str(caught.value)
    assert role in str(caught.value)
    assert "HTTP 403" in str(caught.value)


def test_key_without_a_certificate_is_not_found(keyvault_server: KeyVaultServer) -> None:
    kv = keyvault_server
    kv.add_key("plain", vectors.private_key("ec-p256"))
    signer = make_signer(kv, kv.key_id("plain"))
    with pytest.raises(KeyVaultError, match="read certificate plain: not found"):
        signer.signing_key().sign(DATA)


def test_token_endpoint_down_is_transient(
    keyvault_server: KeyVaultServer, msi_server: ManagedIdentityServer
) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("ec-p256"), vectors.chain("ec-p256"))
    msi_server.fail_next(times=20, status=500)
    signer = make_signer(kv, kv.key_id("k"))
    with pytest.raises(TransientKeyVaultError, match="access token"):
        signer.signing_key().sign(DATA)


def test_error_messages_carry_no_token_or_key_material(
    keyvault_server: KeyVaultServer, msi_server: ManagedIdentityServer
) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("rsa4096"), vectors.chain("rsa4096"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret")
    signer.signing_key().sign(b"warm-up")
    kv.denied.add("keys/sign")
    with pytest.raises(KeyVaultError) as caught:
        signer.signing_key().sign(DATA)
    text = str(caught.value)
    issued = list(msi_server._issued)  # the bearer tokens in play
    assert issued and not any(t in text for t in issued)
    assert "PRIVATE KEY" not in text
    assert caught.value.__cause__ is None  # no SDK exception (with its response) attached
