"""The signer interface, after notation-go's ``signature.Signer``.

A signer hands out a ``SigningKey``: one immutable key version with the certificate chain
that goes with it, its spec (which decides the algorithm) and its versioned id. The
envelope is built from that key and signed by it, so the chain in the envelope, the key
that signed and the id in the audit ledger always belong together, even when the
certificate rotates in between (notation-core-go: ``Sign(payload) -> (signature,
certificates)``). ``sign`` takes the exact to-be-signed bytes (the COSE Sig_structure) and
returns the raw signature: RSASSA-PSS with salt length = hash length, or ECDSA as
fixed-length r||s. Whether the key is a local PEM or an Azure Key Vault key is invisible
above this line.
"""

from __future__ import annotations

from typing import Protocol

from cryptography import x509

from signer.algorithms import KeySpec


class SigningKey(Protocol):
    @property
    def spec(self) -> KeySpec: ...

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """Leaf first, then intermediates, then the root."""
        ...

    @property
    def key_id(self) -> str:
        """The versioned, non-secret name of this key (for the audit ledger)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (hashing it with the spec's hash); the raw signature."""
        ...


class Signer(Protocol):
    @property
    def key_id(self) -> str:
        """The configured key (versionless when the latest version is followed)."""
        ...

    def signing_key(self) -> SigningKey:
        """The key version to sign with now (loaded, cached and refreshed by the signer)."""
        ...
