"""The signer interface, after notation-go's ``signature.Signer``.

The envelope code hands over the exact to-be-signed bytes (the COSE Sig_structure)
and gets back the raw signature: RSASSA-PSS with salt length = hash length, or
ECDSA as fixed-length r||s. Whether the key is a local PEM or an Azure Key Vault
key is invisible above this line.
"""

from __future__ import annotations

from typing import Protocol

from cryptography import x509

from signer.algorithms import KeySpec


class Signer(Protocol):
    @property
    def key_spec(self) -> KeySpec:
        """Spec of the signing key; decides the algorithm."""
        ...

    @property
    def key_id(self) -> str:
        """A stable, non-secret name of the key (for the audit ledger)."""
        ...

    def certificate_chain(self) -> list[x509.Certificate]:
        """Leaf first, then intermediates, then the root (may be cached by the signer)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (hashing it with the key spec's hash) and return the raw signature."""
        ...
