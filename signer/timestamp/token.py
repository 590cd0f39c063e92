"""RFC 3161 and CMS structures read into plain typed values.

asn1crypto does the BER/DER decoding; everything it hands back is converted here, at
once and inside one ``try``, so the checks elsewhere work on typed values and a
malformed answer becomes one clear TimestampInvalidError instead of an exception from
deep inside a lazy parser. Which structures are accepted follows tspclient-go
(internal/cms/cms.go, signed.go; token.go; response.go): SignedData version 3 carrying
id-ct-TSTInfo, X.509 certificates only, SignerInfos identified by issuer and serial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from asn1crypto import cms, core, tsp
from cryptography import x509

from signer.timestamp.errors import MALFORMED, UNSUPPORTED, TimestampInvalidError

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_TIME = "1.2.840.113549.1.9.5"
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"

# Exceptions asn1crypto raises for bad input, at load time or on first access.
_DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)


class _TimeStampResp(core.Sequence):  # type: ignore[misc]
    """asn1crypto's TimeStampResp makes the token mandatory; RFC 3161 does not (a
    rejection carries none)."""

    _fields: ClassVar[list[tuple[str, Any] | tuple[str, Any, dict[str, bool]]]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class StatusInfo:
    status: int
    texts: tuple[str, ...]
    failures: frozenset[str]  # asn1crypto's names of the PKIFailureInfo bits set


@dataclass(frozen=True)
class Response:
    status: StatusInfo
    token: bytes | None = field(repr=False)  # the TimeStampToken's encoding, as sent


@dataclass(frozen=True)
class TokenCertificate:
    der: bytes = field(repr=False)
    cert: x509.Certificate
    issuer_der: bytes = field(repr=False)
    serial: int


@dataclass(frozen=True)
class EssCertId:
    """One ESSCertIDv2 (RFC 5035): which certificate signed, by hash and optionally name."""

    hash_oid: str
    cert_hash: bytes = field(repr=False)
    issuer_der: bytes | None = field(repr=False)  # directoryName of IssuerSerial, if any
    serial: int | None
    has_issuer_serial: bool


@dataclass(frozen=True)
class SignerInfo:
    version: int
    sid_issuer_der: bytes = field(repr=False)
    sid_serial: int
    digest_oid: str
    signature_oid: str
    signature: bytes = field(repr=False)
    signed_attrs_der: bytes | None = field(repr=False)  # DER SET OF: what is signed
    content_type: str | None
    message_digest: bytes | None = field(repr=False)
    signing_time: datetime | None
    ess_v2: tuple[EssCertId, ...] | None  # None: no signingCertificateV2 attribute


@dataclass(frozen=True)
class TstInfo:
    version: int
    policy: str
    hash_oid: str
    hash_algorithm_der: bytes = field(repr=False)
    hashed_message: bytes = field(repr=False)
    serial_number: int
    gen_time: datetime
    gen_time_is_utc: bool  # written with "Z", as RFC 3161 requires
    accuracy: timedelta | None
    nonce: int | None = field(repr=False)


@dataclass(frozen=True)
class SignedToken:
    raw: bytes = field(repr=False)
    content: bytes = field(repr=False)  # the DER TSTInfo, as signed
    certificates: tuple[TokenCertificate, ...]
    signer_infos: tuple[SignerInfo, ...]
    info: TstInfo


def _malformed(what: str) -> TimestampInvalidError:
    return TimestampInvalidError(what, reason=MALFORMED)


def _absent(value: Any) -> bool:
    return isinstance(value, core.Void)


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_set(encodings: list[bytes]) -> bytes:
    """A DER SET OF: elements sorted by their encodings (what Go's encoding/asn1 writes
    when tspclient-go re-marshals the signed attributes it verifies)."""
    body = b"".join(sorted(encodings))
    return b"\x31" + _der_length(len(body)) + body


# --- TimeStampResp ------------------------------------------------------------------------


def parse_response(data: bytes) -> Response:
    """A TimeStampResp; raises TimestampInvalidError (malformed) for anything else."""
    try:
        resp = _TimeStampResp.load(data, strict=True)
        info = resp["status"]
        status = int(info["status"])
        texts = () if _absent(info["status_string"]) else tuple(info["status_string"].native)
        failures = (
            frozenset()
            if _absent(info["fail_info"])
            else frozenset(str(bit) for bit in info["fail_info"].native)  # unnamed bits: ints
        )
        token = resp["time_stamp_token"]
        raw = None if _absent(token) else bytes(token.dump())
    except _DECODE_ERRORS:
        raise _malformed("the TSA reply is not a DER TimeStampResp") from None
    return Response(StatusInfo(status, texts, failures), raw)


# --- TimeStampToken -----------------------------------------------------------------------


def _certificates(signed_data: Any) -> tuple[TokenCertificate, ...]:
    choices = signed_data["certificates"]
    if _absent(choices):
        return ()
    out = []
    for choice in choices:
        if choice.name != "certificate":
            raise _malformed("the timestamp token holds a certificate that is not X.509")
        cert = choice.chosen
        der = bytes(cert.dump())
        try:
            parsed = x509.load_der_x509_certificate(der)
        except (ValueError, x509.InvalidVersion):
            raise _malformed("the timestamp token holds an invalid certificate") from None
        out.append(
            TokenCertificate(
                der=der,
                cert=parsed,
                issuer_der=bytes(cert["tbs_certificate"]["issuer"].dump()),
                serial=int(cert["tbs_certificate"]["serial_number"].native),
            )
        )
    return tuple(out)


def _ess_v2(values: Any) -> tuple[EssCertId, ...]:
    out = []
    for cert_id in values[0]["certs"]:
        issuer_serial = cert_id["issuer_serial"]
        issuer_der = None
        serial = None
        if not _absent(issuer_serial):
            names = issuer_serial["issuer"]
            if len(names) and names[0].name == "directory_name":
                issuer_der = bytes(names[0].chosen.untag().dump())
            serial = int(issuer_serial["serial_number"].native)
        out.append(
            EssCertId(
                hash_oid=cert_id["hash_algorithm"]["algorithm"].dotted,
                cert_hash=bytes(cert_id["cert_hash"].native),
                issuer_der=issuer_der,
                serial=serial,
                has_issuer_serial=not _absent(issuer_serial),
            )
        )
    return tuple(out)


def _signer_info(info: Any) -> SignerInfo:
    sid = info["sid"]
    if sid.name != "issuer_and_serial_number":
        raise TimestampInvalidError(
            "the timestamp token's signer is identified by key identifier; only issuer and "
            "serial number are supported",
            reason=UNSUPPORTED,
        )
    attrs = info["signed_attrs"]
    first: dict[str, Any] = {}
    signed_attrs_der = None
    if not _absent(attrs):
        for attr in attrs:
            first.setdefault(attr["type"].dotted, attr["values"])
        signed_attrs_der = _der_set([bytes(attr.dump()) for attr in attrs])
    content_type = first.get(OID_CONTENT_TYPE)
    digest = first.get(OID_MESSAGE_DIGEST)
    signing_time = first.get(OID_SIGNING_TIME)
    ess = first.get(OID_SIGNING_CERTIFICATE_V2)
    return SignerInfo(
        version=int(info["version"]),
        sid_issuer_der=bytes(sid.chosen["issuer"].dump()),
        sid_serial=int(sid.chosen["serial_number"].native),
        digest_oid=info["digest_algorithm"]["algorithm"].dotted,
        signature_oid=info["signature_algorithm"]["algorithm"].dotted,
        signature=bytes(info["signature"].native),
        signed_attrs_der=signed_attrs_der,
        content_type=None if content_type is None else content_type[0].dotted,
        message_digest=None if digest is None else bytes(digest[0].native),
        signing_time=None if signing_time is None else _aware(signing_time[0].native),
        ess_v2=None if ess is None else _ess_v2(ess),
    )


def _aware(moment: object) -> datetime:
    # asn1crypto gives year 0 as its own extended_datetime type, which is no datetime
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError("not a time with a time zone")
    return moment.astimezone(UTC)


def _accuracy(value: Any) -> timedelta | None:
    if _absent(value):
        return None
    parts = [
        0 if _absent(value[name]) else int(value[name]) for name in ("seconds", "millis", "micros")
    ]
    if any(p < 0 for p in parts):
        raise ValueError("negative accuracy")
    return timedelta(seconds=parts[0], milliseconds=parts[1], microseconds=parts[2])


def _tst_info(content: bytes) -> TstInfo:
    info = tsp.TSTInfo.load(content, strict=True)
    imprint = info["message_imprint"]
    gen_time = info["gen_time"]
    nonce = info["nonce"]
    return TstInfo(
        version=int(info["version"]),
        policy=info["policy"].dotted,
        hash_oid=imprint["hash_algorithm"]["algorithm"].dotted,
        hash_algorithm_der=bytes(imprint["hash_algorithm"].dump()),
        hashed_message=bytes(imprint["hashed_message"].native),
        serial_number=int(info["serial_number"].native),
        gen_time=_aware(gen_time.native),
        gen_time_is_utc=bytes(gen_time.contents).endswith(b"Z"),
        accuracy=_accuracy(info["accuracy"]),
        nonce=None if _absent(nonce) else int(nonce.native),
    )


def parse_token(raw: bytes) -> SignedToken:
    """A TimeStampToken (ContentInfo / SignedData / TSTInfo), not yet verified."""
    try:
        content_info = cms.ContentInfo.load(raw, strict=True)
        if content_info["content_type"].dotted != OID_SIGNED_DATA:
            raise _malformed("the timestamp token is not a CMS SignedData")
        signed_data = content_info["content"]
        version = int(signed_data["version"])
        if version != 3:
            raise TimestampInvalidError(
                f"unsupported signed data version: got {version}, want 3", reason=UNSUPPORTED
            )
        encap = signed_data["encap_content_info"]
        if encap["content_type"].dotted != OID_TST_INFO:
            raise _malformed(
                f"unexpected content type {encap['content_type'].dotted}: the timestamp token "
                "must carry id-ct-TSTInfo"
            )
        if _absent(encap["content"]):
            raise _malformed("the timestamp token has no TSTInfo")
        content = bytes(encap["content"])
        return SignedToken(
            raw=raw,
            content=content,
            certificates=_certificates(signed_data),
            signer_infos=tuple(_signer_info(info) for info in signed_data["signer_infos"]),
            info=_tst_info(content),
        )
    except _DECODE_ERRORS:
        raise _malformed("the timestamp token is not a DER CMS SignedData with a TSTInfo") from None
