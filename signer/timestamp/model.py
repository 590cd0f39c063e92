"""What a timestamp is: the token, the time range it stands for, and the TSA that signed it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509

from signer.certs import subject_of
from signer.timestamp.errors import OUTSIDE_VALIDITY, TimestampInvalidError

# RFC 3628 baseline time-stamp policy: without an accuracy field its tokens are good to
# one second (tspclient-go TSTInfo.Validate; trust-store-trust-policy.md, "Steps").
BASELINE_POLICY = "0.4.0.2023.1.1"


def _when(moment: datetime) -> str:
    """RFC 1123 with a numeric zone, as notation's messages give certificate times."""
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


class _TimeRange:
    """The range a token's time stands for: genTime plus or minus its accuracy."""

    time: datetime
    accuracy: timedelta | None
    policy: str

    @property
    def uncertainty(self) -> timedelta:
        """How far the real time may be from ``time``, by notation's rule."""
        if not self.accuracy and self.policy == BASELINE_POLICY:
            return timedelta(seconds=1)
        return self.accuracy or timedelta(0)

    @property
    def earliest(self) -> datetime:
        return self.time - self.uncertainty

    @property
    def latest(self) -> datetime:
        return self.time + self.uncertainty


@dataclass(frozen=True)
class TimestampSummary(_TimeRange):
    """What a token says about itself, NOT verified (for ``inspect``, as notation inspect
    shows a countersignature). ``tsa_subject`` is None when the token does not name its
    signing certificate."""

    time: datetime
    accuracy: timedelta | None
    policy: str
    tsa_subject: str | None
    certificates: tuple[x509.Certificate, ...] = field(repr=False)


@dataclass(frozen=True)
class Timestamp(_TimeRange):
    """A timestamp countersignature that has been checked.

    ``token`` is the DER TimeStampToken (a CMS ContentInfo) exactly as the TSA sent it:
    the bytes notation puts in the COSE unprotected header
    ``io.cncf.notary.timestampSignature``. ``time`` is the TSTInfo genTime (UTC),
    ``accuracy`` its accuracy field (None when the token has none). ``tsa_chain`` is the
    verified chain, TSA certificate first, root last.
    """

    token: bytes = field(repr=False)
    time: datetime
    accuracy: timedelta | None
    tsa_subject: str
    tsa_chain: tuple[x509.Certificate, ...] = field(repr=False)
    policy: str = ""

    def check_within(self, chain: Sequence[x509.Certificate]) -> None:
        """The whole time range lies in every certificate's validity (notation-go
        verifyTimestamp step 4), else TimestampInvalidError."""
        for cert in chain:
            subject = subject_of(cert)
            if self.earliest < cert.not_valid_before_utc:
                raise TimestampInvalidError(
                    f"timestamp can be before certificate {subject!r} validity period, it will "
                    f"be valid from {_when(cert.not_valid_before_utc)}",
                    reason=OUTSIDE_VALIDITY,
                )
            if self.latest > cert.not_valid_after_utc:
                raise TimestampInvalidError(
                    f"timestamp can be after certificate {subject!r} validity period, it was "
                    f"expired at {_when(cert.not_valid_after_utc)}",
                    reason=OUTSIDE_VALIDITY,
                )
