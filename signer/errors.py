"""One exception root, split the way an event trigger has to act on it.

``PermanentError``: retrying the same input cannot help (bad reference, digest not
found, unsupported key, a signature that fails verification). The function app
records it and acknowledges the event.

``TransientError``: the outside world was unavailable (registry or Key Vault
5xx/429, timeouts, token endpoint down). The function app lets it propagate so
the platform delivers the event again.

Messages never contain tokens, passwords or key material: they are logged and
returned to HTTP callers as they are.
"""

from __future__ import annotations


class SignerError(Exception):
    """Root of every error this package raises on purpose."""

    #: short machine-readable code, stable across releases (used in the ledger and HTTP answers)
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PermanentError(SignerError):
    code = "permanent"


class TransientError(SignerError):
    code = "transient"


# --- input -----------------------------------------------------------------


class InvalidReferenceError(PermanentError):
    code = "invalid_reference"


class InvalidRequestError(PermanentError):
    code = "invalid_request"


class InvalidEventError(PermanentError):
    code = "invalid_event"


class ConfigurationError(PermanentError):
    code = "configuration"


class InternalError(PermanentError):
    """An exception this code did not expect (a bug): recorded and acknowledged, not retried."""

    code = "internal_error"


# --- keys, certificates, envelopes -------------------------------------------


class UnsupportedKeyError(ConfigurationError):
    """A key type or size the Notary Project does not allow: whoever chose it must change it
    (the CLI exits 2). A signature made with one fails verification (not this error)."""

    code = "unsupported_key"


class CertificateError(PermanentError):
    """A certificate or chain breaks the Notary Project certificate rules."""

    code = "invalid_certificate"


class EnvelopeError(PermanentError):
    """An envelope cannot be parsed or breaks the envelope rules."""

    code = "invalid_envelope"


class SignatureVerificationError(PermanentError):
    """A signature was checked and is not acceptable."""

    code = "verification_failed"


class KeyVaultError(PermanentError):
    """Key Vault answered, but not with what was asked for (wrong kid or algorithm)."""

    code = "key_vault"


# --- registry ----------------------------------------------------------------


class RegistryError(PermanentError):
    """The registry refused a request for a reason retrying will not change."""

    code = "registry"


class NotFoundError(RegistryError):
    code = "not_found"


class AuthenticationError(RegistryError):
    code = "unauthorized"


class ManifestTooLargeError(RegistryError):
    code = "manifest_too_large"


class DigestMismatchError(RegistryError):
    code = "digest_mismatch"


class TransientRegistryError(TransientError):
    code = "registry_unavailable"


class TransientKeyVaultError(TransientError):
    code = "key_vault_unavailable"
