"""The signer side against a real TSA (``openssl ts -reply``): what is asked, what is
accepted, and what every TSA fault turns into."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms, tsp
from cryptography.hazmat.primitives import serialization

from signer.certs import subject_of
from signer.errors import ConfigurationError, PermanentError, TransientError
from signer.timestamp import (
    Timestamp,
    Timestamper,
    TimestampInvalidError,
    TimestampUnavailableError,
    load_root_certificate,
    verify_timestamp_token,
)
from signer.timestamp import errors as reasons
from signer.timestamp.response import check_status
from signer.timestamp.token import StatusInfo
from tests.servers.forward_proxy import ForwardProxy
from tests.servers.tsa import POLICY, TsaFault, TsaServer, refused_url
from tests.timestamp.helpers import HASH_OF_KIND, Signed, signed_envelope
from tests.verifier import pki


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def stamper(tsa_server: TsaServer, sleeps: list[float]) -> Iterator[Timestamper]:
    """A Timestamper for the test TSA whose back-off is recorded instead of slept."""
    with Timestamper(tsa_server.url, [tsa_server.root], sleep=sleeps.append) as stamper:
        yield stamper


def _no_raw_bytes(message: str) -> None:
    assert "b'" not in message and "\\x" not in message, message


# --- the happy path -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(HASH_OF_KIND))
def test_each_signature_algorithm_gets_a_checked_timestamp_in_one_request(
    tsa_server: TsaServer, stamper: Timestamper, kind: str
) -> None:
    signed = signed_envelope(kind)
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    after = datetime.now(UTC)

    assert tsa_server.requests == 1
    assert stamper.requests_sent == 1
    # what was asked: the signature value under the signature algorithm's hash
    query = tsp.TimeStampReq.load(tsa_server.queries[0])
    imprint = query["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].native == signed.hash_name
    assert (
        imprint["hashed_message"].native == hashlib.new(signed.hash_name, signed.signature).digest()
    )
    # what came back: the TSA's token, as sent, with its time, accuracy and chain
    assert stamp.token == bytes(
        tsp.TimeStampResp.load(tsa_server.replies[0])["time_stamp_token"].dump()
    )
    assert cms.ContentInfo.load(stamp.token)["content_type"].native == "signed_data"
    assert before <= stamp.time <= after
    assert stamp.accuracy == timedelta(seconds=1)
    assert (stamp.earliest, stamp.latest) == (
        stamp.time - stamp.accuracy,
        stamp.time + stamp.accuracy,
    )
    assert stamp.tsa_subject == subject_of(tsa_server.identity.cert)
    assert stamp.tsa_chain == (tsa_server.identity.cert, tsa_server.root)
    assert stamp.policy == POLICY
    # and the verifier side accepts it for this signature
    assert (
        verify_timestamp_token(stamp.token, signed.signature, [tsa_server.root]).time == stamp.time
    )


def test_the_request_is_the_one_notation_sends(tsa_server: TsaServer, stamper: Timestamper) -> None:
    """tspclient-go NewRequest: v1, NULL hash parameters, nonce < 2**159, certReq, no policy."""
    signed = signed_envelope("p384")
    for _ in range(2):
        stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    first, second = (tsp.TimeStampReq.load(q) for q in tsa_server.queries)
    assert first["version"].native == "v1"
    assert first["message_imprint"]["hash_algorithm"].dump().endswith(b"\x05\x00")  # NULL
    assert first["cert_req"].native is True
    assert first["req_policy"].native is None
    assert first["extensions"].native is None
    nonces = [first["nonce"].native, second["nonce"].native]
    assert nonces[0] != nonces[1]
    assert all(0 <= n < 2**159 for n in nonces)


@pytest.mark.parametrize(
    ("key", "digest", "intermediate"),
    [("p256", "sha384", False), ("rsa3072", "sha512", False), ("p384", "sha256", True)],
)
def test_tsa_keys_digests_and_an_issuing_ca_are_accepted(
    key: str, digest: str, intermediate: bool
) -> None:
    signed = signed_envelope("p256")
    with TsaServer(key=key, signer_digest=digest, intermediate=intermediate) as tsa:
        with Timestamper(tsa.url, [tsa.root]) as stamper:
            stamp = stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
        assert len(stamp.tsa_chain) == (3 if intermediate else 2)
        assert stamp.tsa_chain[0] == tsa.identity.cert
        assert stamp.tsa_chain[-1] == tsa.root


def test_an_rsa_pss_token_is_accepted(tsa_server: TsaServer, stamper: Timestamper) -> None:
    signed = signed_envelope()
    tsa_server.inject("pss")
    stamp = stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    assert stamp.tsa_subject == subject_of(tsa_server.bad["pss"].cert)


def test_a_requested_policy_is_sent_and_required(tsa_server: TsaServer) -> None:
    signed = signed_envelope()
    other = "1.2.3.4.2"  # the TSA's other policy
    with Timestamper(tsa_server.url, [tsa_server.root], policy=other) as stamper:
        assert stamper.timestamp(signed.signature, signed.hash_name, signed.chain).policy == other
        tsa_server.inject("drop_policy")
        with pytest.raises(TimestampInvalidError) as caught:
            stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    assert caught.value.reason == reasons.POLICY
    assert tsp.TimeStampReq.load(tsa_server.queries[0])["req_policy"].dotted == other


def test_one_timestamper_serves_threads_in_parallel(
    tsa_server: TsaServer, stamper: Timestamper
) -> None:
    signed = [signed_envelope("p256") for _ in range(6)]
    results: list[Timestamp] = []

    def work(s: Signed) -> None:
        results.append(stamper.timestamp(s.signature, s.hash_name, s.chain))

    threads = [threading.Thread(target=work, args=(s,)) for s in signed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == len(signed)
    assert tsa_server.requests == stamper.requests_sent == len(signed)


# --- faults -------------------------------------------------------------------------------

FAULTS: list[tuple[TsaFault, type[Exception], str, str]] = [
    ("404", TimestampInvalidError, reasons.HTTP_STATUS, "HTTP 404"),
    ("garbage", TimestampInvalidError, reasons.MALFORMED, "not a DER TimeStampResp"),
    ("html", TimestampInvalidError, reasons.CONTENT_TYPE, "content type 'text/html'"),
    ("oversized", TimestampInvalidError, reasons.TOO_LARGE, "larger than 262144 bytes"),
    ("wrong_nonce", TimestampInvalidError, reasons.NONCE, "nonce in response does not match"),
    ("wrong_imprint", TimestampInvalidError, reasons.IMPRINT, "message imprint in response"),
    ("rejection", TimestampInvalidError, reasons.REJECTED, "failure info: bad_alg"),
    ("busy", TimestampUnavailableError, reasons.TSA_BUSY, "time_not_available"),
    ("no_eku", TimestampInvalidError, reasons.EKU, "must have and only have Timestamping"),
    ("noncritical_eku", TimestampInvalidError, reasons.EKU, "marked as critical"),
    ("extra_eku", TimestampInvalidError, reasons.EKU, "must have and only have Timestamping"),
    ("untrusted", TimestampInvalidError, reasons.UNTRUSTED, "does not chain to a trusted root"),
    ("tampered", TimestampInvalidError, reasons.SIGNATURE, "does not verify"),
    ("no_certs", TimestampInvalidError, reasons.SIGNING_CERTIFICATE, "TSA signing certificate"),
]  # fmt: skip


@pytest.mark.parametrize("case", FAULTS, ids=[f[0] for f in FAULTS])
def test_an_answer_that_is_not_an_acceptable_timestamp_fails_after_one_request(
    tsa_server: TsaServer,
    stamper: Timestamper,
    sleeps: list[float],
    case: tuple[TsaFault, type[Exception], str, str],
) -> None:
    fault, error, reason, words = case
    signed = signed_envelope()
    tsa_server.inject(fault)
    with pytest.raises(error) as caught:
        stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    failure = caught.value
    assert isinstance(failure, TimestampInvalidError | TimestampUnavailableError)
    assert failure.reason == reason
    assert words in failure.message
    assert failure.message.startswith(f"timestamp from {tsa_server.url}: ")
    _no_raw_bytes(failure.message)
    assert tsa_server.requests == 1
    assert sleeps == []
    # the next request is answered normally: nothing was left half-done
    stamper.timestamp(signed.signature, signed.hash_name, signed.chain)


def test_error_classes_split_as_the_event_trigger_needs() -> None:
    assert issubclass(TimestampUnavailableError, TransientError)
    assert issubclass(TimestampInvalidError, PermanentError)
    assert TimestampUnavailableError.code == "timestamp_unavailable"
    assert TimestampInvalidError.code == "timestamp_invalid"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("500", reasons.SERVER_ERROR), ("503", reasons.SERVER_ERROR), ("reset", reasons.CONNECTION),
     ("429", reasons.THROTTLED)],
)  # fmt: skip
def test_transient_failures_are_retried_a_bounded_number_of_times(
    tsa_server: TsaServer, stamper: Timestamper, sleeps: list[float], fault: TsaFault, reason: str
) -> None:
    signed = signed_envelope()
    tsa_server.inject(fault, times=10, retry_after=2)
    with pytest.raises(TimestampUnavailableError) as caught:
        stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    assert caught.value.reason == reason
    assert "after 3 attempts" in caught.value.message
    assert tsa_server.requests == 3
    assert len(sleeps) == 2
    if fault == "429":
        assert sleeps == [2.0, 2.0]  # Retry-After, honoured
    else:
        assert all(0 < s <= 1.0 for s in sleeps)  # short back-off


@pytest.mark.parametrize("fault", ["500", "429", "reset"])
def test_a_transient_failure_then_an_answer_succeeds(
    tsa_server: TsaServer, stamper: Timestamper, sleeps: list[float], fault: TsaFault
) -> None:
    signed = signed_envelope()
    tsa_server.inject(fault, retry_after=1)
    stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    assert tsa_server.requests == 2
    assert len(sleeps) == 1


def test_a_retry_after_beyond_the_cap_fails_at_once(
    tsa_server: TsaServer, stamper: Timestamper, sleeps: list[float]
) -> None:
    signed = signed_envelope()
    tsa_server.inject("429", retry_after=120)
    with pytest.raises(TimestampUnavailableError) as caught:
        stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    assert caught.value.reason == reasons.THROTTLED
    assert "Retry-After 120s" in caught.value.message
    assert tsa_server.requests == 1
    assert sleeps == []


def test_a_tsa_that_is_down_is_unavailable() -> None:
    signed = signed_envelope()
    sleeps: list[float] = []
    root = pki.certificate(pki.key("p256"), pki.name("Some Root"), ca=True)
    with Timestamper(refused_url(), [root], sleep=sleeps.append) as stamper:
        with pytest.raises(TimestampUnavailableError) as caught:
            stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
        assert stamper.requests_sent == 3
    assert caught.value.reason == reasons.CONNECTION
    assert len(sleeps) == 2


@pytest.mark.parametrize("fault", ["slow", "trickle", "trickle_headers"])
def test_a_slow_or_trickling_tsa_cannot_hold_the_call_past_its_timeout(
    tsa_server: TsaServer, fault: TsaFault
) -> None:
    """The server would take minutes (60 s of silence, or one byte every 0.5 s); the
    call gives up at its 1 s timeout. The bound checked is loose on purpose."""
    signed = signed_envelope()
    tsa_server.inject(fault, times=3, seconds=60.0 if fault == "slow" else 0.5)
    started = time.monotonic()
    with (
        Timestamper(tsa_server.url, [tsa_server.root], timeout=1.0) as stamper,
        pytest.raises(TimestampUnavailableError) as caught,
    ):
        stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    assert time.monotonic() - started < 20
    assert caught.value.reason in (reasons.DEADLINE, reasons.TIMEOUT)


# --- the signing chain must hold the timestamp ----------------------------------------------


@pytest.mark.parametrize("when", ["expired", "not yet valid"])
def test_a_timestamp_outside_the_signing_certificate_validity_is_refused(
    tsa_server: TsaServer, stamper: Timestamper, when: str
) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(days=2) if when == "expired" else now + timedelta(days=1)
    signed = signed_envelope(
        signing_time=start + timedelta(hours=12),
        not_before=start,
        not_after=start + timedelta(days=1),
    )
    with pytest.raises(TimestampInvalidError) as caught:
        stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    assert caught.value.reason == reasons.OUTSIDE_VALIDITY
    assert "validity period" in caught.value.message
    assert tsa_server.requests == 1


# --- configuration ------------------------------------------------------------------------


def test_bad_configuration_is_refused_before_any_request(tsa_server: TsaServer) -> None:
    with pytest.raises(ConfigurationError, match="http or https"):
        Timestamper("ftp://tsa.example/", [tsa_server.root])
    with pytest.raises(ConfigurationError, match="not a valid URL"):
        Timestamper("http://tsa.example:port/", [tsa_server.root])
    with pytest.raises(ConfigurationError, match="not a root certificate"):
        Timestamper(tsa_server.url, [tsa_server.identity.cert])
    with pytest.raises(ConfigurationError, match="no TSA root"):
        Timestamper(tsa_server.url, [])
    with pytest.raises(ConfigurationError, match="dotted OID"):
        Timestamper(tsa_server.url, [tsa_server.root], policy="tsa-policy")
    signed = signed_envelope()
    with (
        Timestamper(tsa_server.url, [tsa_server.root]) as stamper,
        pytest.raises(ConfigurationError, match="'sha1' is not supported"),
    ):
        stamper.timestamp(signed.signature, "sha1", signed.chain)
    with (
        Timestamper(tsa_server.url, [tsa_server.root]) as stamper,
        pytest.raises(ConfigurationError, match="signing certificate chain"),
    ):
        stamper.timestamp(signed.signature, signed.hash_name, [])
    assert tsa_server.requests == 0


def test_credentials_in_the_url_are_refused_and_stay_out_of_messages(
    tsa_server: TsaServer,
) -> None:
    with pytest.raises(ConfigurationError, match="credentials") as caught:
        Timestamper(tsa_server.url.replace("http://", "http://user:s3cret@"), [tsa_server.root])
    assert "s3cret" not in str(caught.value)
    url = tsa_server.url + "?key=k3y"  # a key in the query is sent, never shown
    signed = signed_envelope()
    tsa_server.inject("404")
    with (
        Timestamper(url, [tsa_server.root]) as stamper,
        pytest.raises(TimestampInvalidError) as invalid,
    ):
        stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
    assert "k3y" not in str(invalid.value)
    assert tsa_server.requests == 1


def test_the_root_file_is_read_as_notation_reads_it(tsa_server: TsaServer) -> None:
    pem = tsa_server.root_path.read_bytes()
    assert load_root_certificate(pem) == tsa_server.root
    assert (
        load_root_certificate(pki.pem(tsa_server.root).replace(b"\n", b"\r\n")) == tsa_server.root
    )
    der = tsa_server.root.public_bytes(serialization.Encoding.DER)
    assert load_root_certificate(der) == tsa_server.root
    with pytest.raises(ConfigurationError, match="found 2 certificates"):
        load_root_certificate(pem + pem)
    with pytest.raises(ConfigurationError, match="not a root certificate"):
        load_root_certificate(pki.pem(tsa_server.identity.cert))
    with pytest.raises(ConfigurationError, match="not a PEM or DER certificate"):
        load_root_certificate(b"hello")


def test_a_rejection_quotes_the_tsa_s_words_printable_and_bounded() -> None:
    status = StatusInfo(2, ("bad \x1b[31mrequest\n" + "x" * 500,), frozenset({"bad_request"}))
    with pytest.raises(TimestampInvalidError) as caught:
        check_status(status)
    message = caught.value.message
    assert "failure info: bad_request" in message
    assert "bad [31mrequest" in message and "\x1b" not in message and "\n" not in message
    assert len(message) < 250
    with pytest.raises(TimestampUnavailableError):
        check_status(StatusInfo(3, (), frozenset()))  # waiting: ask again later
    check_status(StatusInfo(1, (), frozenset()))  # granted with modifications is granted


def test_the_tsa_is_reached_through_the_environment_proxy(
    tsa_server: TsaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As notation (Go's ProxyFromEnvironment) and every other remote of the signer."""
    signed = signed_envelope()
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with Timestamper(tsa_server.url, [tsa_server.root]) as stamper:
            stamper.timestamp(signed.signature, signed.hash_name, signed.chain)
        assert [method for method, _ in proxy.seen] == ["POST"]
    assert tsa_server.requests == 1
