"""The TimeStampReq, built as notation builds it (tspclient-go request.go, NewRequest).

What is timestamped is the COSE signature value (the bytes of the fourth COSE_Sign1
item: raw r||s for ECDSA, the PSS signature for RSA), hashed with the hash of the
signature algorithm (notation-core-go signature/cose/envelope.go, hashFromCOSEAlgorithm:
PS256/ES256 -> SHA-256, PS384/ES384 -> SHA-384, PS512/ES512 -> SHA-512). The imprint's
AlgorithmIdentifier carries explicit NULL parameters; the nonce is a random integer
below 2**159; certReq is true (the TSA must include its certificate); no policy unless
the caller names one; no extensions.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

from asn1crypto import core, tsp

from signer.errors import ConfigurationError

HASH_NAMES = ("sha256", "sha384", "sha512")
# The only digests tspclient-go accepts, for imprints, ESS certificate hashes and CMS.
HASH_BY_OID = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
NONCE_BITS = 159
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


@dataclass(frozen=True)
class TimestampRequest:
    """A request and what its answer must echo."""

    der: bytes = field(repr=False)
    hash_name: str
    hash_algorithm_der: bytes = field(repr=False)  # the imprint's AlgorithmIdentifier
    digest: bytes = field(repr=False)
    nonce: int = field(repr=False)
    policy: str | None = None
    cert_req: bool = True


def check_hash_name(hash_name: str) -> str:
    if hash_name not in HASH_NAMES:
        raise ConfigurationError(
            f"timestamp hash algorithm {hash_name!r} is not supported: use one of "
            f"{', '.join(HASH_NAMES)}"
        )
    return hash_name


def check_policy(policy: str | None) -> str | None:
    if policy is not None and not _OID.match(policy):
        raise ConfigurationError(f"timestamp policy {policy!r} is not a dotted OID")
    return policy


def build_request(
    signature: bytes, hash_name: str, *, policy: str | None = None
) -> TimestampRequest:
    """The request for a timestamp over ``signature`` (the COSE signature value)."""
    if not signature:
        raise ConfigurationError("there is no signature to timestamp")
    check_hash_name(hash_name)
    check_policy(policy)
    digest = hashlib.new(hash_name, signature).digest()
    nonce = secrets.randbits(NONCE_BITS)
    algorithm = tsp.DigestAlgorithm({"algorithm": hash_name, "parameters": core.Null()})
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": algorithm, "hashed_message": digest},
        "nonce": nonce,
        "cert_req": True,
    }
    if policy is not None:
        fields["req_policy"] = policy
    der = tsp.TimeStampReq(fields).dump()
    return TimestampRequest(
        der=der,
        hash_name=hash_name,
        hash_algorithm_der=algorithm.dump(),
        digest=digest,
        nonce=nonce,
        policy=policy,
    )
