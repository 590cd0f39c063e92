"""Notary Project signing for OCI artifacts: envelopes, signers, registry, verifier.

This package never imports ``azure.functions``: the function app wires it up.
"""

__version__ = "0.1.0"
SIGNING_AGENT = f"acr-notary-signer/{__version__}"
