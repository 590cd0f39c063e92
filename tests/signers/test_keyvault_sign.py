"""The lean ``sign`` client (signer.signers.keyvault_sign) against the local vault over HTTPS.

What the SDK's CryptographyClient did for the signer this client must keep doing: the
challenge flow (no token before the vault names its resource, and none for a resource
outside the vault's domain), one token for many signatures, a fresh token when the vault
refuses the cached one (and no loop when it refuses every one), the environment's proxy,
and a clear error for an answer that is not a signature.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.identity import ManagedIdentityCredential

from signer.algorithms import ES256
from signer.errors import KeyVaultError, TransientKeyVaultError
from signer.signers.keyvault_sign import VaultSigning
from tests.servers.forward_proxy import ForwardProxy
from tests.servers.keyvault import KeyVaultServer
from tests.servers.msi import ManagedIdentityServer
from tests.signers import vectors

ALG = ES256


class CountingCredential:
    """The real managed-identity credential, recording the scopes and tenants asked for."""

    def __init__(self) -> None:
        self.inner = ManagedIdentityCredential()
        self.asked: list[tuple[str, Any]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.asked.append((scopes[0], kwargs.get("tenant_id")))
        token: AccessToken = self.inner.get_token(*scopes, **kwargs)
        return token


class Gate:
    """Decides which bearer tokens the vault takes; ``refuse`` of them are refused first."""

    def __init__(self) -> None:
        self.refuse = 0

    def __call__(self, token: str) -> bool:
        if self.refuse:
            self.refuse -= 1
            return False
        return True


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def vault(msi_server: ManagedIdentityServer, gate: Gate) -> Iterator[tuple[KeyVaultServer, str]]:
    with KeyVaultServer(accept_token=gate) as kv:
        version = kv.add_certificate("k", vectors.private_key("ec-p256"), vectors.chain("ec-p256"))
        yield kv, kv.key_id("k", version)


@pytest.fixture
def forward_proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as proxy:
        yield proxy


def _client(kv: KeyVaultServer, credential: Any, **kwargs: Any) -> VaultSigning:
    options: dict[str, Any] = {
        "verify_challenge_resource": False,
        "tls_verify": str(kv.ca_file),
        "retry_backoff_factor": 0.0,
        "sign_retry_delay": 0.0,
    }
    return VaultSigning(kv.url, credential, **(options | kwargs))


def test_one_token_for_many_signatures_and_the_first_request_carries_none(
    vault: tuple[KeyVaultServer, str],
) -> None:
    kv, kid = vault
    credential = CountingCredential()
    client = _client(kv, credential)
    for i in range(5):
        answer = client.sign(kid, "ES256", ALG.digest(b"%d" % i))
        assert len(answer.signature) == 64 and answer.kid == kid
    assert kv.count("challenge") == 1  # the first request, unauthenticated, learns the scope
    assert kv.count("sign") == 5
    assert credential.asked == [("https://vault.azure.net/.default", kv.tenant_id)]
    client.close()


def test_a_challenge_for_a_resource_outside_the_vault_gets_no_token(
    vault: tuple[KeyVaultServer, str],
) -> None:
    """The local vault is 127.0.0.1 but its challenge names vault.azure.net: the mismatch
    the SDK's verify_challenge_resource refuses, and so does this client."""
    kv, kid = vault
    credential = CountingCredential()
    client = _client(kv, credential, verify_challenge_resource=True)
    with pytest.raises(KeyVaultError, match="not the vault's domain: no token is sent"):
        client.sign(kid, "ES256", ALG.digest(b"x"))
    assert credential.asked == []
    assert kv.count("sign") == 0


def test_a_refused_token_is_replaced_once(vault: tuple[KeyVaultServer, str], gate: Gate) -> None:
    kv, kid = vault
    client = _client(kv, CountingCredential())
    client.sign(kid, "ES256", ALG.digest(b"warm"))
    gate.refuse = 1  # the vault stops taking the cached token (revoked, CAE)
    assert len(client.sign(kid, "ES256", ALG.digest(b"again")).signature) == 64
    assert kv.count("challenge") == 2 and kv.count("sign") == 2


def test_a_vault_that_refuses_every_token_is_a_permission_error_not_a_loop(
    vault: tuple[KeyVaultServer, str], gate: Gate
) -> None:
    kv, kid = vault
    gate.refuse = 1000
    with pytest.raises(KeyVaultError, match="HTTP 401") as caught:
        _client(kv, CountingCredential()).sign(kid, "ES256", ALG.digest(b"x"))
    assert not isinstance(caught.value, TransientKeyVaultError)
    assert kv.count("challenge") == 2  # unauthenticated, then once with a token


def test_signing_goes_through_the_environment_proxy(
    vault: tuple[KeyVaultServer, str],
    forward_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kv, kid = vault
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)
    client = _client(kv, CountingCredential())
    client.sign(kid, "ES256", ALG.digest(b"x"))
    assert ("CONNECT", kv.host) in forward_proxy.seen
    client.close()


def test_an_answer_that_is_not_a_signature_is_refused(vault: tuple[KeyVaultServer, str]) -> None:
    kv, kid = vault
    kv.inject("sign", "garbage_value")
    with pytest.raises(KeyVaultError, match="with no signature"):
        _client(kv, CountingCredential()).sign(kid, "ES256", ALG.digest(b"x"))


def test_a_hostile_error_code_stays_out_of_the_message(vault: tuple[KeyVaultServer, str]) -> None:
    kv, kid = vault
    kv.inject("sign", "hostile_code")
    with pytest.raises(KeyVaultError, match="HTTP 400") as caught:
        _client(kv, CountingCredential()).sign(kid, "ES256", ALG.digest(b"x"))
    assert "\n" not in str(caught.value) and "signed" not in str(caught.value)


def test_an_identity_endpoint_failure_is_transient(vault: tuple[KeyVaultServer, str]) -> None:
    kv, kid = vault

    class Down:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            raise OSError("identity endpoint unreachable")

    with pytest.raises(TransientKeyVaultError, match="could not get an access token"):
        _client(kv, Down()).sign(kid, "ES256", ALG.digest(b"x"))
