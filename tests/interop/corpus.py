"""Mutated envelopes: signed for real by our signer, then altered one property at a time.

Each ``Mutation`` names what it alters, whether the signature is made again over the
altered bytes (``RESIGN``: the point is what the field means, so integrity must not be what
rejects it) or left as it was (``KEEP``: the point is integrity, or the field is not
signed), and the verdict the real ``notation verify`` v1.3.2 gave it at level strict. That
recorded verdict is checked on every run: a mutation that stopped mattering shows there.

``KNOWN_DIFFERENCES`` lists where our verifier disagrees with notation on purpose, with the
reason; ``PENDING`` lists the disagreements found that are not settled yet (verifier work in
progress, new findings, a bug): their tests are strict xfails, so they flip visibly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from signer.envelope import ALG, CRIT, CTY, X5CHAIN
from signer.mediatypes import (
    HEADER_SIGNING_AGENT,
    HEADER_SIGNING_SCHEME,
    HEADER_SIGNING_TIME,
    HEADER_TIMESTAMP_SIGNATURE,
    HEADER_VERIFICATION_PLUGIN,
)
from signer.payload import go_json
from signer.signers.local import LocalSigner
from tests.interop.certificates import issued_leaf, sha1_self_signed
from tests.interop.edits import (
    Edit,
    also_critical,
    chain,
    crit,
    der,
    duplicate_protected,
    ecdsa_der,
    epoch_float,
    expiry_raw,
    flip_a_bit,
    layout,
    nothing,
    payload,
    payload_doc,
    pretty,
    protected,
    protected_raw,
    protected_written,
    signature,
    signing_authority,
    signing_time_raw,
    target_with,
    times,
    unprotected,
    without,
    x5chain_protected,
)
from tests.interop.surgery import encode
from tests.signers import vectors

Verdict = Literal["pass", "fail"]
PASS: Verdict = "pass"
FAIL: Verdict = "fail"
RESIGN, KEEP = True, False
PS384, EDDSA = -38, -8


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    edit: Edit
    resign: bool
    notation: Verdict
    material: str = "rsa2048-chain"  # the vectors' key and chain the base envelope is made with
    #: a chain to sign with instead of the material's (its last certificate is trusted)
    chain: Callable[[], tuple[x509.Certificate, ...]] | None = None
    store_type: str = "ca"
    #: ``--user-metadata`` pairs the verification asks for
    user_metadata: Mapping[str, str] = field(default_factory=dict)

    def signer_and_chain(self) -> tuple[LocalSigner, tuple[x509.Certificate, ...]]:
        key = vectors.private_key(self.material)
        chain = self.chain() if self.chain is not None else vectors.chain(self.material)
        return LocalSigner(key, list(chain)), chain


_DAY = timedelta(days=1)
_NOW = timedelta(0)
_OTHER_DIGEST = "sha256:" + "0" * 64
_BEFORE_VALIDITY = datetime(2024, 6, 1, tzinfo=UTC)

CORPUS: tuple[Mutation, ...] = (
    # controls: the machinery itself changes nothing
    Mutation("control", "our envelope, taken apart and re-encoded", nothing, KEEP, PASS),
    Mutation("control-resigned", "unchanged, signature made again", nothing, RESIGN, PASS),
    Mutation("control-ec", "EC P-256 envelope, re-encoded", nothing, KEEP, PASS, "ec-p256"),
    # alg (label 1)
    Mutation("alg-other-rsa", "alg PS384 on an RSA-2048 key", protected(ALG, PS384), RESIGN, FAIL),
    Mutation("alg-unsupported", "alg EdDSA (-8)", protected(ALG, EDDSA), RESIGN, FAIL),
    Mutation("alg-as-text", 'alg "PS256" as a text string', protected(ALG, "PS256"), RESIGN, FAIL),
    Mutation("alg-missing", "no alg", without(ALG), RESIGN, FAIL),
    Mutation(
        "alg-non-minimal-int",
        "alg -37 written in two bytes instead of one",
        protected_raw(ALG, b"\x39\x00\x24"),
        RESIGN,
        PASS,
    ),
    # crit (label 2)
    Mutation("crit-missing", "no crit", without(CRIT), RESIGN, FAIL),
    Mutation("crit-empty", "crit is an empty array", crit(), RESIGN, FAIL),
    Mutation(
        "crit-as-text",
        "crit is a text string, not an array",
        protected(CRIT, HEADER_SIGNING_SCHEME),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "crit-without-signing-scheme",
        "crit lists only signingTime",
        crit(HEADER_SIGNING_TIME),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "crit-lists-absent-label",
        "crit names a header the protected map does not have",
        crit(HEADER_SIGNING_SCHEME, "io.example.absent"),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "crit-unknown-label",
        "an unknown text header, present and critical",
        also_critical("io.example.critical", "x"),
        RESIGN,
        PASS,
    ),
    Mutation(
        "crit-unknown-int-label",
        "an unknown integer header (99), present and critical",
        also_critical(99, "x"),
        RESIGN,
        PASS,
    ),
    Mutation(
        "crit-lists-signing-time",
        "signingTime listed as critical too",
        crit(HEADER_SIGNING_SCHEME, HEADER_SIGNING_TIME),
        RESIGN,
        PASS,
    ),
    Mutation(
        "crit-duplicate-entry",
        "signingScheme listed twice in crit",
        crit(HEADER_SIGNING_SCHEME, HEADER_SIGNING_SCHEME),
        RESIGN,
        PASS,
    ),
    Mutation(
        "expiry-not-critical",
        "expiry present but not in crit",
        times(_NOW, _DAY, critical=False),
        RESIGN,
        FAIL,
    ),
    # cty (label 3)
    Mutation(
        "cty-wrong", 'cty "application/json"', protected(CTY, "application/json"), RESIGN, FAIL
    ),
    Mutation("cty-as-int", "cty as CoAP content format 50", protected(CTY, 50), RESIGN, FAIL),
    Mutation("cty-missing", "no cty", without(CTY), RESIGN, FAIL),
    # signing scheme
    Mutation(
        "signing-scheme-unknown",
        'signingScheme "notary.x509.other"',
        protected(HEADER_SIGNING_SCHEME, "notary.x509.other"),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "signing-scheme-missing", "no signingScheme", without(HEADER_SIGNING_SCHEME), RESIGN, FAIL
    ),
    Mutation(
        "signing-authority-without-authentic-time",
        "notary.x509.signingAuthority with only a signingTime",
        signing_authority(authentic_time=False),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "signing-authority",
        "notary.x509.signingAuthority with a critical authenticSigningTime, trusted as such",
        signing_authority(authentic_time=True),
        RESIGN,
        PASS,
        store_type="signingAuthority",
    ),
    Mutation(
        "signing-authority-time-before-validity",
        "notary.x509.signingAuthority signed (authentically) before the certificates were valid",
        signing_authority(authentic_time=True, at=_BEFORE_VALIDITY),
        RESIGN,
        FAIL,
        store_type="signingAuthority",
    ),
    # signing time
    Mutation(
        "signing-time-untagged",
        "signingTime a plain integer, no tag 1",
        signing_time_raw(encode(1_700_000_000)),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "signing-time-fraction",
        "signingTime tag 1 around a float with a fraction",
        signing_time_raw(epoch_float(1_790_000_000.5)),
        RESIGN,
        PASS,
    ),
    Mutation(
        "signing-time-float-whole",
        "signingTime tag 1 around a float without a fraction",
        signing_time_raw(epoch_float(1_790_000_000.0)),
        RESIGN,
        PASS,
    ),
    Mutation(
        "signing-time-tag0",
        "signingTime as tag 0 (RFC 3339 text)",
        signing_time_raw(b"\xc0" + encode("2026-11-22T06:00:00Z")),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "signing-time-text",
        "signingTime a plain text string",
        signing_time_raw(encode("2026-11-22T06:00:00Z")),
        RESIGN,
        FAIL,
    ),
    Mutation("signing-time-missing", "no signingTime", without(HEADER_SIGNING_TIME), RESIGN, FAIL),
    Mutation("signing-time-future", "signingTime a day ahead", times(_DAY, None), RESIGN, PASS),
    Mutation(
        "signing-time-before-validity",
        "signingTime before the certificates' validity (notary.x509 does not check it)",
        protected(HEADER_SIGNING_TIME, _BEFORE_VALIDITY),
        RESIGN,
        PASS,
    ),
    # expiry
    Mutation("expiry-future", "a critical expiry a day ahead", times(_NOW, _DAY), RESIGN, PASS),
    Mutation(
        "expiry-past",
        "signed two days ago, expired yesterday",
        times(-2 * _DAY, -_DAY),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "expiry-before-signing-time",
        "expiry (in a day) before the signing time (in two days)",
        times(2 * _DAY, _DAY),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "expiry-equals-signing-time",
        "expiry equal to the signing time",
        times(_DAY, _DAY),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "expiry-untagged",
        "expiry a plain integer",
        expiry_raw(encode(4_000_000_000)),
        RESIGN,
        FAIL,
    ),
    # other protected headers
    Mutation(
        "extra-noncritical-header",
        "an unknown text header, not critical",
        protected("io.example.note", "x"),
        RESIGN,
        PASS,
    ),
    Mutation(
        "extra-noncritical-int-header",
        "an unknown integer header (99), not critical",
        protected(99, "x"),
        RESIGN,
        PASS,
    ),
    Mutation(
        "verification-plugin",
        "a critical verificationPlugin header",
        also_critical(HEADER_VERIFICATION_PLUGIN, "io.example.plugin"),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "protected-unsorted",
        "protected map keys in reverse order",
        protected_written(reverse=True),
        RESIGN,
        PASS,
    ),
    Mutation(
        "protected-duplicate-label",
        "cty twice in the protected map",
        duplicate_protected(CTY),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "protected-duplicate-label-other-encoding",
        "alg twice, the second time with the label written in two bytes (0x18 0x01)",
        duplicate_protected(ALG, key=b"\x18\x01"),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "protected-indefinite-map",
        "protected map of indefinite length",
        protected_written(indefinite=True),
        RESIGN,
        FAIL,
    ),
    # x5chain (label 33, unprotected: no signature to make again)
    Mutation(
        "x5chain-in-protected",
        "x5chain moved into the protected header",
        x5chain_protected(keep_unprotected=False),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "x5chain-in-both",
        "x5chain in the protected header as well as the unprotected one",
        x5chain_protected(keep_unprotected=True),
        RESIGN,
        PASS,
    ),
    Mutation(
        "x5chain-root-first",
        "chain order root, intermediate, leaf",
        chain(lambda c: [der(x) for x in reversed(c.chain)]),
        KEEP,
        FAIL,
    ),
    Mutation(
        "x5chain-out-of-order",
        "chain order leaf, root, intermediate",
        chain(lambda c: [der(c.chain[0]), der(c.chain[2]), der(c.chain[1])]),
        KEEP,
        FAIL,
    ),
    Mutation(
        "x5chain-missing-intermediate",
        "leaf and root only",
        chain(lambda c: [der(c.chain[0]), der(c.chain[-1])]),
        KEEP,
        FAIL,
    ),
    Mutation(
        "x5chain-leaf-only",
        "the CA-issued leaf alone",
        chain(lambda c: [der(c.chain[0])]),
        KEEP,
        FAIL,
    ),
    Mutation(
        "x5chain-extra-cert",
        "an unrelated self-signed certificate after the root",
        chain(lambda c: [*(der(x) for x in c.chain), der(vectors.chain("ec-p256")[-1])]),
        KEEP,
        FAIL,
    ),
    Mutation(
        "x5chain-duplicate-root",
        "the root twice at the end",
        chain(lambda c: [*(der(x) for x in c.chain), der(c.chain[-1])]),
        KEEP,
        FAIL,
    ),
    Mutation("x5chain-missing", "no x5chain", without(X5CHAIN, "unprotected"), KEEP, FAIL),
    Mutation("x5chain-empty", "x5chain an empty array", unprotected(X5CHAIN, []), KEEP, FAIL),
    Mutation(
        "x5chain-not-der",
        "x5chain holds bytes that are no certificate",
        unprotected(X5CHAIN, [b"not a certificate"]),
        KEEP,
        FAIL,
    ),
    Mutation(
        "x5chain-bare-bstr",
        "a self-signed leaf as a bare bstr, not an array (RFC 9360 allows it)",
        lambda d, c: d.set(X5CHAIN, der(c.chain[0]), "unprotected"),
        KEEP,
        FAIL,
        "rsa2048-selfsigned",
    ),
    # other unprotected headers
    Mutation(
        "signing-agent-int",
        "signingAgent an integer",
        unprotected(HEADER_SIGNING_AGENT, 7),
        KEEP,
        PASS,
    ),
    Mutation(
        "signing-agent-missing",
        "no signingAgent",
        without(HEADER_SIGNING_AGENT, "unprotected"),
        KEEP,
        PASS,
    ),
    Mutation(
        "unprotected-extra-label",
        "an unknown unprotected header",
        unprotected("io.example.note", "x"),
        KEEP,
        PASS,
    ),
    Mutation(
        "unprotected-duplicate-label",
        "x5chain twice in the unprotected map",
        lambda d, c: d.unprotected.append(d.unprotected[0]),
        KEEP,
        FAIL,
    ),
    Mutation(
        "timestamp-not-a-token",
        "timestampSignature holds bytes that are no RFC 3161 token",
        unprotected(HEADER_TIMESTAMP_SIGNATURE, b"not a timestamp token"),
        KEEP,
        PASS,
    ),
    # payload (re-signed: the signature covers it)
    Mutation(
        "payload-whitespace",
        "payload pretty-printed with spaces and newlines",
        payload(pretty),
        RESIGN,
        PASS,
    ),
    Mutation(
        "payload-extra-member",
        "payload with a second top-level member",
        payload(lambda t: go_json({**payload_doc(t), "extra": 1}).encode()),
        RESIGN,
        PASS,
    ),
    Mutation(
        "payload-target-extra-member",
        "targetArtifact with an artifactType member",
        payload(target_with(artifactType="application/example")),
        RESIGN,
        PASS,
    ),
    Mutation(
        "payload-utf8-bom",
        "payload starts with a UTF-8 byte order mark",
        payload(lambda t: b"\xef\xbb\xbf" + go_json(payload_doc(t)).encode()),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "payload-utf16",
        "payload encoded as UTF-16 (with BOM)",
        payload(lambda t: go_json(payload_doc(t)).encode("utf-16")),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "payload-key-case",
        'payload members spelled "TargetArtifact", "MediaType"',
        payload(
            lambda t: go_json(
                {
                    "TargetArtifact": {
                        "MediaType": t["mediaType"],
                        "digest": t["digest"],
                        "size": t["size"],
                    }
                }
            ).encode()
        ),
        RESIGN,
        PASS,
    ),
    Mutation(
        "payload-duplicate-target",
        "targetArtifact twice, the first naming another digest",
        payload(
            lambda t: (
                '{"targetArtifact":'
                + go_json({**t, "digest": _OTHER_DIGEST})
                + ',"targetArtifact":'
                + go_json(dict(t))
                + "}"
            ).encode()
        ),
        RESIGN,
        PASS,
    ),
    Mutation(
        "payload-duplicate-target-merges",
        "targetArtifact twice, only the first with annotations env=prod; asked for env=prod",
        payload(
            lambda t: (
                '{"targetArtifact":'
                + go_json({**t, "annotations": {"env": "prod"}})
                + ',"targetArtifact":'
                + go_json(dict(t))
                + "}"
            ).encode()
        ),
        RESIGN,
        PASS,
        user_metadata={"env": "prod"},
    ),
    Mutation(
        "payload-other-digest",
        "payload names another digest",
        payload(target_with(digest=_OTHER_DIGEST)),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "payload-wrong-size",
        "payload size off by one",
        payload(lambda t: target_with(size=t["size"] + 1)(t)),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "payload-wrong-media-type",
        "payload names the index media type",
        payload(target_with(mediaType="application/vnd.oci.image.index.v1+json")),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "payload-annotation-not-text",
        "an annotation whose value is a number",
        payload(target_with(annotations={"env": 1})),
        RESIGN,
        FAIL,
    ),
    Mutation(
        "payload-not-json", "payload is not JSON", payload(lambda t: b"not json"), RESIGN, FAIL
    ),
    Mutation("payload-empty-object", "payload is {}", payload(lambda t: b"{}"), RESIGN, FAIL),
    Mutation(
        "payload-altered-not-resigned",
        "payload names another digest, signature left as it was",
        payload(target_with(digest=_OTHER_DIGEST)),
        KEEP,
        FAIL,
    ),
    # integrity and encoding
    Mutation(
        "signature-bitflip", "one bit of the signature flipped", signature(flip_a_bit), KEEP, FAIL
    ),
    Mutation(
        "signature-truncated",
        "signature one byte short",
        signature(lambda s, c: s[:-1]),
        KEEP,
        FAIL,
    ),
    Mutation(
        "signature-ecdsa-der",
        "ECDSA signature DER-encoded instead of raw r||s",
        signature(ecdsa_der),
        KEEP,
        FAIL,
        "ec-p256",
    ),
    Mutation(
        "protected-altered-not-resigned",
        "an extra protected header, signature left as it was",
        protected("io.example.note", "x"),
        KEEP,
        FAIL,
    ),
    Mutation("untagged", "no CBOR tag 18", layout(tagged=False), KEEP, FAIL),
    Mutation(
        "array-indefinite",
        "COSE_Sign1 array of indefinite length",
        layout(array_indefinite=True),
        KEEP,
        FAIL,
    ),
    Mutation(
        "unprotected-indefinite-map",
        "unprotected map of indefinite length",
        layout(unprotected_indefinite=True),
        KEEP,
        FAIL,
    ),
    Mutation(
        "protected-bstr-chunked",
        "protected bstr written in indefinite-length chunks",
        layout(protected_chunks=2),
        KEEP,
        FAIL,
    ),
    Mutation(
        "payload-bstr-chunked",
        "payload bstr written in indefinite-length chunks",
        layout(payload_chunks=2),
        KEEP,
        FAIL,
    ),
    Mutation("trailing-byte", "a byte after the envelope", layout(trailing=b"\x00"), KEEP, FAIL),
    # certificates (the leaf holds the signing key: only the certificate rules are at stake)
    Mutation(
        "leaf-key-cert-sign",
        "leaf keyUsage has keyCertSign too",
        nothing,
        KEEP,
        FAIL,
        chain=lambda: issued_leaf(key_usage={"digital_signature": True, "key_cert_sign": True}),
    ),
    Mutation(
        "leaf-server-auth",
        "leaf EKU serverAuth",
        nothing,
        KEEP,
        FAIL,
        chain=lambda: issued_leaf(eku=(ExtendedKeyUsageOID.SERVER_AUTH,)),
    ),
    Mutation(
        "leaf-expired",
        "leaf expired in 2021",
        nothing,
        KEEP,
        FAIL,
        chain=lambda: issued_leaf(
            not_before=datetime(2020, 1, 1, tzinfo=UTC),
            not_after=datetime(2021, 1, 1, tzinfo=UTC),
        ),
    ),
    Mutation(
        "leaf-issued-chain",
        "a fresh CA and leaf (control for the certificate cases)",
        nothing,
        KEEP,
        PASS,
        chain=issued_leaf,
    ),
    Mutation(
        "ca-basic-constraints-not-critical",
        "root CA with basicConstraints cA=true, not critical",
        nothing,
        KEEP,
        PASS,
        chain=lambda: issued_leaf(basic_constraints_critical=False),
    ),
    Mutation(
        "leaf-sha1-self-signed",
        "self-signed leaf signed with SHA-1",
        nothing,
        KEEP,
        PASS,
        chain=sha1_self_signed,
    ),
)

#: where our verifier disagrees with notation on purpose (name -> why)
KNOWN_DIFFERENCES: Mapping[str, str] = {
    "crit-unknown-label": (
        "signature-specification.md: a verifier MUST fail an envelope whose crit lists a "
        "header it does not understand; notation v1.3.2 accepts it"
    ),
    "crit-unknown-int-label": "as crit-unknown-label, with an integer label",
    "ca-basic-constraints-not-critical": (
        "signature-specification.md (certificate requirements): a CA certificate's "
        "basicConstraints MUST be marked critical; notation v1.3.2 only checks cA=true"
    ),
    "leaf-sha1-self-signed": (
        "signature-specification.md: SHA-1 is not an allowed algorithm anywhere in the chain; "
        "notation v1.3.2's check of a single self-signed certificate lets it through"
    ),
}

#: disagreements that work in progress removes, and new findings nobody has decided on yet
#: (name -> the finding). Both are strict xfails: the day ours agrees, the test says so.
PENDING: Mapping[str, str] = {}

assert len({m.name for m in CORPUS}) == len(CORPUS), "mutation names must be unique"
