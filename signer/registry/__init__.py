"""OCI registry client for the signer: resolve, list referrers, push signatures.

Usage::

    client = RegistryClient("myreg.azurecr.io", auth=AcrAuth(DefaultAzureCredential()))
    target = client.resolve("team/app", "1.0")
    referrers = client.list_referrers("team/app", target.descriptor)
    pushed = client.push_signature("team/app", target.descriptor, envelope,
                                   COSE_MEDIA_TYPE, annotations)
"""

from signer.registry.acr_auth import ACR_ENTRA_SCOPE, AcrAuth
from signer.registry.auth import AnonymousAuth, AuthRequest, BasicAuth, BearerAuth, RegistryAuth
from signer.registry.client import (
    MAX_BLOB_SIZE,
    MAX_MANIFEST_SIZE,
    PushedSignature,
    RegistryClient,
    ResolvedManifest,
)
from signer.registry.manifests import (
    referrers_tag,
    signature_layer,
    signature_manifest,
)
from signer.registry.protocol import Registry
from signer.registry.referrers import ReferrerList

__all__ = [
    "ACR_ENTRA_SCOPE",
    "MAX_BLOB_SIZE",
    "MAX_MANIFEST_SIZE",
    "AcrAuth",
    "AnonymousAuth",
    "AuthRequest",
    "BasicAuth",
    "BearerAuth",
    "PushedSignature",
    "ReferrerList",
    "Registry",
    "RegistryAuth",
    "RegistryClient",
    "ResolvedManifest",
    "referrers_tag",
    "signature_layer",
    "signature_manifest",
]
