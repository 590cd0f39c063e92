"""The verifier side: a token found in an envelope, checked as notation-go verifyTimestamp
checks it, on good tokens and on each way a token can be wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.timestamp import (
    Timestamp,
    TimestampInvalidError,
    summarize_timestamp_token,
    verify_timestamp_token,
)
from signer.timestamp import errors as reasons
from signer.timestamp.model import BASELINE_POLICY
from signer.timestamp.request import build_request
from signer.timestamp.token import parse_response
from tests.fuzzing import examples
from tests.servers.tsa import TsaFault, TsaServer
from tests.timestamp.helpers import Signed, signed_envelope
from tests.verifier import pki


def _token(
    tsa: TsaServer, data: bytes, fault: TsaFault | None = None, hash_name: str = "sha256"
) -> bytes:
    """A token over ``data`` from the test TSA, made without the client's checks."""
    token = parse_response(tsa.reply_for(build_request(data, hash_name).der, fault)).token
    assert token is not None
    return token


@pytest.fixture
def signed() -> Signed:
    return signed_envelope("p256")


def test_a_good_token_verifies_and_tells_its_time_and_tsa(
    tsa_server: TsaServer, signed: Signed
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = verify_timestamp_token(
        _token(tsa_server, signed.signature), signed.signature, [tsa_server.root]
    )
    assert before <= stamp.time <= datetime.now(UTC)
    assert stamp.accuracy == timedelta(seconds=1)
    assert stamp.tsa_subject == "CN=Test TSA,O=acr-notary-signer tests"
    assert stamp.tsa_chain == (tsa_server.identity.cert, tsa_server.root)
    stamp.check_within(signed.chain)


@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
def test_the_token_s_own_hash_algorithm_is_used_for_the_imprint(
    tsa_server: TsaServer, signed: Signed, hash_name: str
) -> None:
    token = _token(tsa_server, signed.signature, hash_name=hash_name)
    verify_timestamp_token(token, signed.signature, [tsa_server.root])


BROKEN: list[tuple[str, TsaFault | None, str, str]] = [
    ("wrong imprint", "wrong_imprint", reasons.IMPRINT, "mismatched message"),
    ("untrusted TSA", "untrusted", reasons.UNTRUSTED, "does not chain to a trusted root"),
    ("TSA certificate without EKU", "no_eku", reasons.EKU, "must have and only have Timestamping"),
    ("EKU not critical", "noncritical_eku", reasons.EKU, "marked as critical"),
    ("a second EKU", "extra_eku", reasons.EKU, "must have and only have Timestamping"),
    ("tampered signature", "tampered", reasons.SIGNATURE, "does not verify"),
    ("no certificates", "no_certs", reasons.SIGNING_CERTIFICATE, "signing certificate not found"),
]  # fmt: skip


@pytest.mark.parametrize("case", BROKEN, ids=[c[0] for c in BROKEN])
def test_a_broken_token_gets_notation_s_verdict(
    tsa_server: TsaServer, signed: Signed, case: tuple[str, TsaFault | None, str, str]
) -> None:
    _, fault, reason, words = case
    token = _token(tsa_server, signed.signature, fault)
    with pytest.raises(TimestampInvalidError) as caught:
        verify_timestamp_token(token, signed.signature, [tsa_server.root])
    assert caught.value.reason == reason
    assert words in caught.value.message
    assert "b'" not in caught.value.message


def test_a_token_over_something_else_is_not_a_countersignature(
    tsa_server: TsaServer, signed: Signed
) -> None:
    """A good token, but over the envelope (not its signature value): notation's
    ``mismatched message``."""
    token = _token(tsa_server, signed.envelope)
    with pytest.raises(TimestampInvalidError) as caught:
        verify_timestamp_token(token, signed.signature, [tsa_server.root])
    assert caught.value.reason == reasons.IMPRINT
    assert caught.value.message.startswith(
        "failed to get timestamp from timestamp countersignature: mismatched message"
    )
    other = signed_envelope("p256")
    with pytest.raises(TimestampInvalidError, match="mismatched message"):
        verify_timestamp_token(
            _token(tsa_server, other.signature), signed.signature, [tsa_server.root]
        )


def test_only_the_tsa_roots_given_are_trusted(tsa_server: TsaServer, signed: Signed) -> None:
    token = _token(tsa_server, signed.signature)
    with pytest.raises(TimestampInvalidError) as caught:
        verify_timestamp_token(token, signed.signature, [tsa_server.other_root])
    assert caught.value.reason == reasons.UNTRUSTED
    assert caught.value.message.startswith("failed to verify the timestamp countersignature: ")
    with pytest.raises(TimestampInvalidError, match="no trusted TSA certificate found"):
        verify_timestamp_token(token, signed.signature, [])
    # a signing root in the tsa store is no TSA root either
    with pytest.raises(TimestampInvalidError, match="does not chain to a trusted root"):
        verify_timestamp_token(token, signed.signature, [signed.chain[-1]])


def test_an_rsa_pss_token_verifies(tsa_server: TsaServer, signed: Signed) -> None:
    token = _token(tsa_server, signed.signature, "pss")
    assert verify_timestamp_token(
        token, signed.signature, [tsa_server.root]
    ).tsa_subject.startswith("CN=Test TSA (RSA-PSS)")


@pytest.mark.parametrize(
    "data", [b"", b"\x30\x00", b"not a token", b"\x30\x82\xff\xff" + b"\x00" * 16]
)
def test_garbage_is_a_parse_failure(tsa_server: TsaServer, data: bytes) -> None:
    with pytest.raises(TimestampInvalidError) as caught:
        verify_timestamp_token(data, b"signature", [tsa_server.root])
    assert caught.value.reason in (reasons.MALFORMED, reasons.UNSUPPORTED)
    assert caught.value.message.startswith("failed to parse timestamp countersignature: ")


def test_any_mutation_of_a_token_is_caught_or_harmless(tsa_server: TsaServer) -> None:
    """Flip bytes of a real token: the verifier either still accepts it (the flip hit
    unsigned data that is not used) or refuses it with a TimestampInvalidError; nothing
    else escapes."""
    signed = signed_envelope("p256")
    token = _token(tsa_server, signed.signature)
    good = verify_timestamp_token(token, signed.signature, [tsa_server.root])

    @examples(150)
    @given(st.integers(0, len(token) - 1), st.integers(1, 255))
    def flip(position: int, mask: int) -> None:
        mutated = bytearray(token)
        mutated[position] ^= mask
        try:
            stamp = verify_timestamp_token(bytes(mutated), signed.signature, [tsa_server.root])
        except TimestampInvalidError:
            return
        assert stamp.time == good.time and stamp.tsa_chain == good.tsa_chain

    flip()


@examples(200)
@given(st.binary(max_size=300))
def test_random_bytes_never_escape_as_another_exception(data: bytes) -> None:
    root = pki.certificate(pki.key("p256"), pki.name("Fuzz Root"), ca=True)
    with pytest.raises(TimestampInvalidError):
        verify_timestamp_token(data, b"signature", [root])
    with pytest.raises(TimestampInvalidError):
        parse_response(data)


def test_a_summary_for_inspect_reads_a_token_without_trusting_it(
    tsa_server: TsaServer, signed: Signed
) -> None:
    """notation inspect shows an untrusted TSA's time too; only the imprint is checked."""
    untrusted = _token(tsa_server, signed.signature, "untrusted")
    summary = summarize_timestamp_token(untrusted, signed.signature)
    assert summary.tsa_subject == "CN=Untrusted TSA,O=acr-notary-signer tests"
    assert summary.latest - summary.earliest == timedelta(seconds=2)
    assert tsa_server.untrusted.cert in summary.certificates
    assert (
        summarize_timestamp_token(
            _token(tsa_server, signed.signature, "no_certs"), signed.signature
        ).tsa_subject
        is None
    )
    with pytest.raises(TimestampInvalidError, match="mismatched message"):
        summarize_timestamp_token(untrusted, b"another signature")
    with pytest.raises(TimestampInvalidError, match="failed to parse timestamp countersignature"):
        summarize_timestamp_token(b"junk", signed.signature)


# --- the time range against the signing chain ---------------------------------------------


def _stamp(time: datetime, accuracy: timedelta | None, policy: str = "1.2.3.4.1") -> Timestamp:
    return Timestamp(b"", time, accuracy, "CN=TSA", (), policy)


def test_the_range_is_gen_time_plus_minus_accuracy_by_notation_s_rule() -> None:
    t = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    assert _stamp(t, timedelta(milliseconds=1500)).earliest == t - timedelta(milliseconds=1500)
    assert _stamp(t, None).uncertainty == timedelta(0)
    # tspclient-go: no accuracy under the baseline policy means one second
    assert _stamp(t, None, BASELINE_POLICY).uncertainty == timedelta(seconds=1)
    assert _stamp(t, timedelta(0), BASELINE_POLICY).uncertainty == timedelta(seconds=1)


def test_the_whole_range_must_lie_within_every_signing_certificate() -> None:
    t = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    chain = signed_envelope(
        "p256", signing_time=t, not_before=t - timedelta(days=1), not_after=t + timedelta(seconds=2)
    ).chain
    _stamp(t, timedelta(seconds=2)).check_within(chain)  # bounds are inclusive
    with pytest.raises(TimestampInvalidError) as caught:
        _stamp(t, timedelta(seconds=2, microseconds=1)).check_within(chain)
    assert caught.value.reason == reasons.OUTSIDE_VALIDITY
    assert "timestamp can be after certificate" in caught.value.message
    with pytest.raises(TimestampInvalidError, match="timestamp can be before certificate"):
        _stamp(t - timedelta(days=1), timedelta(seconds=1)).check_within(chain)
