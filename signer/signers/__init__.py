"""Signers: the one seam between the envelope code and where a private key lives."""

from signer.signers.base import Signer

__all__ = ["Signer"]
