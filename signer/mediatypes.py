"""Spec strings, named once.

Sources: notaryproject/specifications specs/signature-specification.md and
signature-envelope-cose.md; opencontainers image-spec and distribution-spec v1.1.
"""

from __future__ import annotations

# OCI manifests
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

MANIFEST_MEDIA_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)
INDEX_MEDIA_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)

# Notary Project signature artifacts
NOTARY_SIGNATURE_ARTIFACT = "application/vnd.cncf.notary.signature"
COSE_MEDIA_TYPE = "application/cose"
JWS_MEDIA_TYPE = "application/jose+json"
NOTARY_PAYLOAD_CTY = "application/vnd.cncf.notary.payload.v1+json"

# The `{}` blob notation uses as the signature manifest's config.
EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

# Signature manifest annotations (signature-specification.md, "Signature Manifest")
ANNOTATION_THUMBPRINTS = "io.cncf.notary.x509chain.thumbprint#S256"
ANNOTATION_CREATED = "org.opencontainers.image.created"

# COSE header labels (signature-envelope-cose.md)
HEADER_SIGNING_SCHEME = "io.cncf.notary.signingScheme"
HEADER_SIGNING_TIME = "io.cncf.notary.signingTime"
HEADER_AUTHENTIC_SIGNING_TIME = "io.cncf.notary.authenticSigningTime"
HEADER_EXPIRY = "io.cncf.notary.expiry"
HEADER_SIGNING_AGENT = "io.cncf.notary.signingAgent"
HEADER_TIMESTAMP_SIGNATURE = "io.cncf.notary.timestampSignature"
HEADER_VERIFICATION_PLUGIN = "io.cncf.notary.verificationPlugin"
HEADER_VERIFICATION_PLUGIN_MIN_VERSION = "io.cncf.notary.verificationPluginMinVersion"

SCHEME_X509 = "notary.x509"
SCHEME_X509_SIGNING_AUTHORITY = "notary.x509.signingAuthority"
