"""Certificate rotation, refresh failures and 16 threads sharing one KeyVaultSigner."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from signer.errors import TransientKeyVaultError
from signer.signers.keyvault import KeyVaultSigner
from tests.servers.keyvault import KeyVaultServer
from tests.signers import vectors
from tests.signers.helpers import make_signer, verify_notary_signature

DATA = b"to be signed"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _rotating_signer(kv: KeyVaultServer, clock: FakeClock) -> tuple[KeyVaultSigner, str]:
    first = kv.add_certificate("k", vectors.private_key("rsa3072"), vectors.chain("rsa3072"))
    signer = make_signer(
        kv,
        kv.key_id("k"),
        chain_source="secret",
        refresh_seconds=600,
        stale_grace_seconds=1200,
        clock=clock,
    )
    signer.signing_key().sign(b"warm-up")
    return signer, first


def test_rotation_is_picked_up_after_the_refresh_interval(
    keyvault_server: KeyVaultServer, clock: FakeClock
) -> None:
    kv = keyvault_server
    signer, first = _rotating_signer(kv, clock)
    second = kv.add_certificate("k", vectors.private_key("ec-p384"), vectors.chain("ec-p384"))

    clock.now += 599
    assert list(signer.signing_key().chain) == list(vectors.chain("rsa3072"))
    assert signer.signing_key().key_id == kv.key_id("k", first)

    clock.now += 2
    chain = list(signer.signing_key().chain)
    signature = signer.signing_key().sign(DATA)

    assert chain == list(vectors.chain("ec-p384"))
    assert signer.signing_key().key_id == kv.key_id("k", second)
    verify_notary_signature(chain[0], signer.signing_key().spec, DATA, signature)
    assert kv.count("get_key") == 2  # a new CryptographyClient for the new version
    assert kv.count("get_certificate") == 2


def test_refresh_without_rotation_keeps_the_client(
    keyvault_server: KeyVaultServer, clock: FakeClock
) -> None:
    kv = keyvault_server
    signer, _ = _rotating_signer(kv, clock)
    clock.now += 601
    signer.signing_key().sign(DATA)
    assert kv.count("get_certificate") == 2
    assert kv.count("get_key") == 1


def test_a_key_taken_before_a_rotation_signs_with_its_own_version(
    keyvault_server: KeyVaultServer, clock: FakeClock
) -> None:
    """Rotation between taking the key and signing must not mix key and chain."""
    kv = keyvault_server
    signer, _ = _rotating_signer(kv, clock)
    key = signer.signing_key()  # the RSA-3072 version: its chain goes into the envelope
    kv.add_certificate("k", vectors.private_key("ec-p384"), vectors.chain("ec-p384"))
    clock.now += 601

    other: list[object] = []
    worker = threading.Thread(target=lambda: other.extend(signer.signing_key().chain))
    worker.start()
    worker.join()
    signature = key.sign(DATA)

    assert other == list(vectors.chain("ec-p384"))  # the other thread saw the rotation
    assert key.chain == vectors.chain("rsa3072")
    verify_notary_signature(key.chain[0], key.spec, DATA, signature)
    # and the next key handed out is the new version
    assert signer.signing_key().chain == vectors.chain("ec-p384")


def test_refresh_failure_serves_the_cached_chain_for_the_grace_period(
    keyvault_server: KeyVaultServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    kv = keyvault_server
    signer, first = _rotating_signer(kv, clock)
    kv.inject("get_certificate", "503", times=1000)

    clock.now += 601
    with caplog.at_level(logging.WARNING, logger="signer.signers.keyvault"):
        signature = signer.signing_key().sign(DATA)
    verify_notary_signature(vectors.chain("rsa3072")[0], signer.signing_key().spec, DATA, signature)
    assert "could not refresh" in caplog.text
    attempts = kv.count("get_certificate")

    clock.now += 30  # failed refreshes are retried at most once a minute
    signer.signing_key().sign(DATA)
    assert kv.count("get_certificate") == attempts

    clock.now = 1000 + 600 + 1200  # refresh interval + grace since the last good load
    with pytest.raises(TransientKeyVaultError, match="HTTP 503"):
        signer.signing_key().sign(DATA)

    kv.clear_faults()
    clock.now += 61
    signer.signing_key().sign(DATA)  # recovers once the vault answers again
    assert signer.signing_key().key_id == kv.key_id("k", first)


def test_sixteen_threads_share_one_signer(keyvault_server: KeyVaultServer) -> None:
    kv = keyvault_server
    kv.add_certificate("k", vectors.private_key("ec-p256"), vectors.chain("ec-p256"))
    signer = make_signer(kv, kv.key_id("k"), chain_source="secret")

    def one(i: int) -> None:
        data = b"payload %d" % i
        chain = list(signer.signing_key().chain)
        verify_notary_signature(
            chain[0], signer.signing_key().spec, data, signer.signing_key().sign(data)
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(160)))

    assert kv.count("sign") == 160
    assert kv.count("get_certificate") == 1
    assert kv.count("get_secret") == 1
    assert kv.count("get_key") == 1
