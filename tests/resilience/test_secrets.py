"""Secrets: no token, key material or password in any log line, error message or HTTP answer.

Every test of this suite already runs under the autouse log check in conftest.py. The
flows here are the ones that handle secrets on purpose, with failures on purpose (a wrong
password, a revoked token, a refused identity, a missing Key Vault permission), so the
error paths are covered too; each collects everything a person could read (all log
records at DEBUG, ledger reasons, HTTP answers, exception messages) and checks it against
the secret values it knows. The last test is the negative control: a leaked line is caught.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from scripts.sample_events import push_event
from shared import runtime
from signer.credentials import build_credential
from signer.errors import SignerError
from signer.models import Descriptor
from signer.registry import BasicAuth, RegistryClient
from signer.signers.keyvault import KeyVaultSigner
from tests.plugins.app import SignerApp
from tests.resilience.helpers import MakeApp, anonymous
from tests.resilience.leaks import FORBIDDEN_FRAGMENTS, SecretBook, find_leaks, record_text
from tests.servers.docker_registry import DockerRegistry
from tests.servers.images import ImagePusher, PushedImage
from tests.servers.keyvault import KeyVaultServer
from tests.servers.msi import ManagedIdentityServer
from tests.servers.oci_registry import OciRegistry


class Readable:
    """Everything a test produced that a person could read."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog
        self.texts: list[str] = []

    def add(self, value: Any) -> None:
        self.texts.append(value if isinstance(value, str) else json.dumps(value, default=str))

    def call(self, action: Callable[[], Any]) -> Any:
        """Run ``action``; its result or its exception's message becomes readable text."""
        try:
            result = action()
        except SignerError as exc:
            self.add(f"{type(exc).__name__}: {exc}")
            return None
        self.add(repr(result))
        return result

    def all(self) -> list[str]:
        return self.texts + [record_text(r) for r in self._caplog.records]


def _assert_no_leaks(readable: Readable, book: SecretBook, *, at_least: int) -> None:
    secrets = book.values
    assert len(secrets) >= at_least, "the test must know the secrets it checks for"
    texts = readable.all()
    assert len(texts) > 20  # the logs were really captured (DEBUG from azure, signer.http, signer)
    leaks = find_leaks(texts, secrets)
    assert not leaks, "\n".join(leaks)


def test_basic_auth_registry(
    *,
    make_app: MakeApp,
    docker_registry_basic: DockerRegistry,
    repository_name: str,
    secret_book: SecretBook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert docker_registry_basic.credentials is not None
    user, password = docker_registry_basic.credentials
    wrong = "not-the-password-4f1c9a"
    secret_book.add_basic(user, password)
    secret_book.add_basic(user, wrong)
    readable = Readable(caplog)
    host = docker_registry_basic.host

    pusher = ImagePusher(docker_registry_basic.url)
    pusher.session.auth = (user, password)
    image = pusher.push_image(repository_name, "v1")
    basic = {
        "SIGNER_REGISTRY": host,
        "SIGNER_REGISTRY_AUTH": "basic",
        "SIGNER_REGISTRY_USERNAME": user,
    }
    app = make_app(**basic, SIGNER_REGISTRY_PASSWORD=password)
    event = push_event(host, repository_name, image.digest, event_id="basic-1")
    readable.call(lambda: app.deliver(event))
    readable.add(app.history(image.digest))
    readable.add(app.http_sign({"reference": f"{host}/{repository_name}:v1", "force": True}))
    readable.add(app.http_status(f"{host}/{repository_name}:v1"))
    readable.add(repr(app.settings))  # settings hold the password: repr must not show it
    with RegistryClient(host, auth=BasicAuth(user, password), insecure=True) as client:
        readable.add(repr(client.list_referrers(repository_name, _subject(image))))
        assert len(client.list_referrers(repository_name, _subject(image)).signatures) == 2

    bad = make_app(**basic, SIGNER_REGISTRY_PASSWORD=wrong)  # refused: permanent, recorded
    readable.call(lambda: bad.deliver({**event, "id": "basic-2"}))
    [refused] = [r for r in bad.history(image.digest) if r.get("eventId") == "basic-2"]
    assert refused["status"] == "failed" and "401" in refused["reason"]
    readable.add(refused)
    readable.add(bad.http_sign({"reference": f"{host}/{repository_name}:v1"}))
    readable.add(bad.http_status(f"{host}/{repository_name}:v1"))

    _assert_no_leaks(readable, secret_book, at_least=4)


def test_acr_tokens_and_managed_identity(
    *,
    acr_app: SignerApp,
    acr_registry: OciRegistry,
    msi_server: ManagedIdentityServer,
    secret_book: SecretBook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    readable = Readable(caplog)
    with anonymous(acr_registry):
        image = acr_app.pusher.push_image("team/app", "v1")
    host = acr_registry.host

    readable.call(lambda: acr_app.deliver(push_event(host, "team/app", image.digest)))
    acr_registry.tokens.revoke_all()  # cached tokens refused: a challenge, a new exchange
    ref = f"{host}/team/app:v1"
    readable.add(acr_app.http_sign({"reference": ref, "force": True}))
    acr_registry.tokens.revoke_all()
    acr_registry.entra_tokens = {"only-some-other-identity"}  # the exchange refuses us
    readable.add(acr_app.http_sign({"reference": ref, "force": True}))
    readable.add(acr_app.http_status(ref))
    readable.add(acr_app.history(image.digest))
    acr_registry.entra_tokens = None
    msi_server.fail_next(times=50, status=503)  # identity endpoint down on a new worker
    runtime.reset()
    fresh = runtime.build_handlers(acr_app.settings)
    readable.add(fresh.on_sign_request(json.dumps({"reference": ref}).encode(), "c-1"))

    secret_book.add_msi(msi_server)
    assert acr_registry.count("POST", "/oauth2/exchange") >= 2
    assert sum(1 for r in acr_registry.requests if r.authorization == "bearer") > 0
    _assert_no_leaks(readable, secret_book, at_least=5)  # refresh + access tokens, MSI


def test_key_vault_bearer_tokens_and_private_key(
    *,
    keyvault_server: KeyVaultServer,
    msi_server: ManagedIdentityServer,
    dev_certificate: dict[str, Path],
    secret_book: SecretBook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The chain read as a secret: the PEM it returns holds the private key."""
    readable = Readable(caplog)
    key = load_pem_private_key(dev_certificate["key"].read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    chain = x509.load_pem_x509_certificates(dev_certificate["chain"].read_bytes())
    keyvault_server.add_certificate("k", key, chain, secret_format="pem", secret_with_key=True)
    signer = KeyVaultSigner(
        keyvault_server.key_id("k"),
        credential=build_credential(None),
        chain_source="secret",
        retry_total=1,
        retry_backoff_factor=0.01,
        **keyvault_server.client_options(),
    )
    with signer:
        readable.call(lambda: signer.signing_key().sign(b"payload"))
        readable.add(repr(list(signer.signing_key().chain)))
        keyvault_server.denied.add("keys/sign")
        readable.call(lambda: signer.signing_key().sign(b"payload"))
        keyvault_server.denied.clear()
        keyvault_server.inject("sign", "503", times=5)
        readable.call(lambda: signer.signing_key().sign(b"payload"))
        keyvault_server.inject("sign", "reset", times=5)
        readable.call(lambda: signer.signing_key().sign(b"payload"))

    secret_book.add_msi(msi_server)
    secret_book.add_key_file(dev_certificate["key"])
    assert keyvault_server.count("get_secret") >= 1  # the private key did travel
    _assert_no_leaks(readable, secret_book, at_least=10)


def test_dev_key_and_storage_account_key_in_app_flows(
    *,
    make_app: MakeApp,
    repository_name: str,
    azurite_connection_string: str,
    dev_certificate: dict[str, Path],
    secret_book: SecretBook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A local key and the storage connection string: neither shows up, even on failures."""
    account_key = azurite_connection_string.split("AccountKey=", 1)[1].split(";", 1)[0]
    secret_book.add(account_key)
    secret_book.add_key_file(dev_certificate["key"])
    readable = Readable(caplog)
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    readable.call(lambda: app.deliver(push_event(app.registry_host, repository_name, image.digest)))
    readable.add(app.http_sign({"reference": f"{app.registry_host}/{repository_name}:v1"}))
    readable.add(repr(app.settings))
    # a chain where the key should be: start-up refuses it, naming the file, not its content
    readable.call(lambda: make_app(SIGNER_LOCAL_KEY=str(dev_certificate["chain"])))
    assert "not an unencrypted PEM private key" in readable.texts[-1]

    _assert_no_leaks(readable, secret_book, at_least=10)


def test_negative_control_a_leaked_secret_is_caught(
    msi_server: ManagedIdentityServer,
    dev_certificate: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The check can fail: each kind of leak, logged where the real code logs, is found."""
    token = ManagedIdentityCredential().get_token("https://vault.azure.net/.default").token
    book = SecretBook()
    book.add_from(msi_server)
    book.add_from(dev_certificate)
    assert token in book.values
    pem = dev_certificate["key"].read_text()
    leaky = logging.getLogger("signer")
    leaky.warning("calling the vault with token %s", token)
    leaky.info("key line %s", pem.splitlines()[3])
    leaky.error("headers: Authorization: Basic abc")
    leaky.error("sent Bearer %s", "eyJhbGciOiJIUzI1NiJ9.e30.x")
    try:
        raise RuntimeError(pem)
    except RuntimeError:
        leaky.exception("failed")  # a key in a traceback

    texts = [record_text(r) for r in caplog.records]
    leaks = find_leaks(texts, book.values)
    assert any("secret" in leak and "vault with token" in leak for leak in leaks)
    assert any("key line" in leak for leak in leaks)
    assert sum("Authorization:" in leak for leak in leaks) == 1
    assert any("'Bearer ey'" in leak for leak in leaks)
    assert any("-----BEGIN PRIVATE KEY-----" in leak for leak in leaks)
    assert all(token not in leak for leak in leaks)  # the report does not repeat the secret
    assert set(FORBIDDEN_FRAGMENTS) >= {"Authorization:", "Bearer ey"}
    caplog.clear()  # the leaks were on purpose: keep the suite-wide check for real ones


def _subject(image: PushedImage) -> Descriptor:
    return Descriptor(image.media_type, image.digest, image.size)
