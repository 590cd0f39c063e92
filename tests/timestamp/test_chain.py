"""The TSA chain rules one by one: Go's path building as tspclient-go uses it, then
notation-core-go ValidateTimestampingCertChain."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from signer.timestamp import errors as reasons
from signer.timestamp.chain import build_tsa_chain, validate_tsa_chain
from signer.timestamp.errors import TimestampInvalidError
from tests.verifier import pki

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TS = ExtendedKeyUsageOID.TIME_STAMPING
_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)
Issuer = tuple[x509.Certificate, Any]


def make(
    cn: str,
    *,
    issuer: Issuer | None = None,
    kind: str = "p256",
    ca: bool | None = False,
    path_length: int | None = None,
    usages: Sequence[str] | None = None,
    ekus: Sequence[ObjectIdentifier] | None = (TS,),
    eku_critical: bool = True,
    days: tuple[int, int] = (-30, 30),
    extra: x509.ExtensionType | None = None,
) -> Issuer:
    """(certificate, key): a TSA leaf by default, a CA with ``ca=True``."""
    key = pki.key(kind)
    name = pki.name(cn)
    signer_cert, signer_key = issuer if issuer else (None, key)
    if usages is None:
        usages = ("key_cert_sign", "crl_sign") if ca else ("digital_signature",)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(signer_cert.subject if signer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + timedelta(days=days[0]))
        .not_valid_after(NOW + timedelta(days=days[1]))
        .add_extension(x509.KeyUsage(**{u: u in usages for u in _USAGES}), critical=True)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True
        )
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=eku_critical)
    if extra is not None:
        builder = builder.add_extension(extra, critical=True)
    return builder.sign(signer_key, hashes.SHA256()), key


@pytest.fixture(scope="module")
def root() -> Issuer:
    return make("Root", ca=True, ekus=None)


def _fails(
    reason: str,
    words: str,
    leaf: x509.Certificate,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
    *,
    at: datetime = NOW,
) -> None:
    with pytest.raises(TimestampInvalidError) as caught:
        chain = build_tsa_chain(leaf, intermediates, roots, at)
        validate_tsa_chain(chain)
    assert caught.value.reason == reason, caught.value
    assert words in caught.value.message


def test_a_tsa_under_a_root_and_under_an_issuing_ca(root: Issuer) -> None:
    leaf, _ = make("TSA", issuer=root)
    assert build_tsa_chain(leaf, [], [root[0]], NOW) == (leaf, root[0])
    issuing = make("Issuing CA", issuer=root, ca=True, path_length=0, ekus=None)
    leaf2, _ = make("TSA 2", issuer=issuing)
    chain = build_tsa_chain(leaf2, [root[0], issuing[0]], [root[0]], NOW)
    assert chain == (leaf2, issuing[0], root[0])
    validate_tsa_chain(chain)


def test_a_self_signed_tsa_certificate_can_be_its_own_root() -> None:
    leaf, _ = make("Self-signed TSA")
    chain = build_tsa_chain(leaf, [], [leaf], NOW)
    assert chain == (leaf,)
    validate_tsa_chain(chain)


def test_validity_is_judged_at_the_time_given(root: Issuer) -> None:
    """The verifier passes the token's genTime: a TSA certificate that has expired
    since still verifies old tokens."""
    leaf, _ = make("TSA", issuer=root, days=(-30, -1))
    _fails(reasons.EXPIRED, "is not valid at", leaf, [root[0]])
    assert build_tsa_chain(leaf, [], [root[0]], NOW - timedelta(days=2))[0] == leaf
    old = make("Old Issuing CA", issuer=root, ca=True, days=(-30, -10), ekus=None)
    leaf3, _ = make("TSA 3", issuer=old)
    _fails(reasons.EXPIRED, "Old Issuing CA", leaf3, [root[0]], [old[0]])


def test_only_the_given_roots_are_trust_anchors(root: Issuer) -> None:
    leaf, _ = make("TSA", issuer=root)
    other = make("Other Root", ca=True, ekus=None)
    _fails(reasons.UNTRUSTED, "signed by unknown authority", leaf, [other[0]], [root[0]])
    look_alike = make("Root", ca=True, ekus=None, kind="p384")  # same name, other key
    _fails(reasons.UNTRUSTED, "is not signed by", leaf, [look_alike[0]])


@pytest.mark.parametrize(
    ("ca_ekus", "ok"),
    [(None, True), ((TS,), True), ((ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,), True),
     ((ExtendedKeyUsageOID.CODE_SIGNING,), False)],
)  # fmt: skip
def test_an_issuing_ca_that_restricts_its_eku_must_allow_timestamping(
    root: Issuer, ca_ekus: Sequence[ObjectIdentifier] | None, ok: bool
) -> None:
    issuing = make("Issuing CA", issuer=root, ca=True, ekus=ca_ekus, eku_critical=False)
    leaf, _ = make("TSA", issuer=issuing)
    if ok:
        assert len(build_tsa_chain(leaf, [issuing[0]], [root[0]], NOW)) == 3
    else:
        _fails(reasons.EKU, "incompatible extended key usage", leaf, [root[0]], [issuing[0]])


def test_a_parent_must_be_a_ca_allowed_to_sign_certificates(root: Issuer) -> None:
    not_ca = make("Not a CA", issuer=root, ca=False, usages=("key_cert_sign",), ekus=None)
    _fails(reasons.UNTRUSTED, "is not a CA", make("TSA", issuer=not_ca)[0], [root[0]], [not_ca[0]])
    no_sign = make("No certSign", issuer=root, ca=True, usages=("crl_sign",), ekus=None)
    _fails(reasons.UNTRUSTED, "not allowed to sign", make("TSA", issuer=no_sign)[0], [root[0]],
           [no_sign[0]])  # fmt: skip


def _sha1_signed(workdir: Path, issuer: Issuer) -> x509.Certificate:
    """A TSA certificate signed with ECDSA-SHA1 (cryptography no longer signs SHA-1)."""
    key = pki.key("p256")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(pki.name("SHA-1 TSA"))
        .sign(key, hashes.SHA256())
    )
    (workdir / "csr.pem").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    (workdir / "ca.pem").write_bytes(pki.pem(issuer[0]))
    (workdir / "ca.key").write_bytes(
        issuer[1].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (workdir / "ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=critical,timeStamping\n"
    )
    subprocess.run(
        ["openssl", "x509", "-req", "-in", "csr.pem", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-set_serial", "7", "-days", "1", "-sha1", "-extfile", "ext.cnf", "-out", "tsa.pem"],
        cwd=workdir, check=True, capture_output=True,
    )  # fmt: skip
    return x509.load_pem_x509_certificate((workdir / "tsa.pem").read_bytes())


def test_sha1_signatures_and_unknown_critical_extensions_are_refused(
    root: Issuer, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    offset = (now - NOW).days
    current_root = make("Current Root", ca=True, ekus=None, days=(offset - 1, offset + 30))
    sha1 = _sha1_signed(tmp_path, current_root)
    # judged inside its validity: openssl starts it at the current second, maybe after `now`
    at = sha1.not_valid_before_utc + timedelta(minutes=1)
    _fails(reasons.UNTRUSTED, "insecure algorithm", sha1, [current_root[0]], at=at)
    odd = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    _fails(reasons.TSA_CERTIFICATE, "unhandled critical extension",
           make("Odd TSA", issuer=root, extra=odd)[0], [root[0]])  # fmt: skip


LEAF_RULES: list[tuple[str, dict[str, Any], str, str]] = [
    ("CA as TSA", {"ca": True}, reasons.TSA_CERTIFICATE, "ca field must be set to false"),
    ("no digitalSignature", {"usages": ("content_commitment",)}, reasons.TSA_CERTIFICATE,
     '"Digital Signature" set'),
    ("keyEncipherment", {"usages": ("digital_signature", "key_encipherment"), "kind": "rsa2048"},
     reasons.TSA_CERTIFICATE, "KeyEncipherment"),
    ("no EKU", {"ekus": None}, reasons.EKU, "must have and only have Timestamping"),
    ("EKU not critical", {"eku_critical": False}, reasons.EKU, "marked as critical"),
    ("two EKUs", {"ekus": (TS, ExtendedKeyUsageOID.CODE_SIGNING)}, reasons.EKU,
     "only have Timestamping"),
    ("RSA-1024", {"kind": "rsa1024"}, reasons.TSA_CERTIFICATE, "RSA key size 1024"),
    ("P-224", {"kind": "p224"}, reasons.TSA_CERTIFICATE, "secp224r1"),
]  # fmt: skip


@pytest.mark.parametrize("case", LEAF_RULES, ids=[c[0] for c in LEAF_RULES])
def test_the_tsa_certificate_rules(
    root: Issuer, case: tuple[str, dict[str, Any], str, str]
) -> None:
    _, options, reason, words = case
    leaf, _ = make("TSA", issuer=root, **options)
    _fails(reason, words, leaf, [root[0]])


def test_non_repudiation_beside_digital_signature_is_allowed(root: Issuer) -> None:
    leaf, _ = make("TSA", issuer=root, usages=("digital_signature", "content_commitment"))
    validate_tsa_chain(build_tsa_chain(leaf, [], [root[0]], NOW))


def test_path_length_and_self_signed_intermediates(root: Issuer) -> None:
    short = make("Short Root", ca=True, path_length=0, ekus=None)
    issuing = make("Issuing CA", issuer=short, ca=True, ekus=None)
    leaf, _ = make("TSA", issuer=issuing)
    _fails(reasons.TSA_CERTIFICATE, "expected path length of 1", leaf, [short[0]], [issuing[0]])
    tsa, _ = make("TSA", issuer=root)
    with pytest.raises(TimestampInvalidError, match=r"intermediate certificate .* is self-signed"):
        validate_tsa_chain([tsa, root[0], root[0]])
    with pytest.raises(TimestampInvalidError, match="is not self-signed"):
        validate_tsa_chain([leaf, issuing[0]])
