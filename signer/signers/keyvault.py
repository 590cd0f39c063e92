"""A signer whose private key never leaves Azure Key Vault.

The envelope hands over the to-be-signed bytes; they are hashed here and only the digest
goes to Key Vault, in exactly one ``sign`` call per signature once warm (made by
``keyvault_sign``, a lean client of that REST operation; the SDK clients read the
certificate and, for a CA-issued chain, the secret once per refresh interval, the key once
per version). Each answer is checked: the kid and algorithm must be the ones asked for,
and the signature must verify with the leaf certificate's public key. That last check
also proves the vault key and the certificate belong together, at no extra round trip.

The certificate chain is read once and re-read after ``refresh_seconds``, so a new
certificate version (rotation) is picked up without a restart. ``signing_key()`` hands out
one version (``VaultKey``: chain, spec and versioned kid) and a signature is made by that
version, so a rotation in between cannot produce a signature its chain does not match.
If a refresh fails while a chain is cached, the cached one keeps serving (with a warning)
for ``stale_grace_seconds``; after that the refresh error is raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.keyvault.certificates import CertificateClient, KeyVaultCertificate
from azure.keyvault.keys import KeyClient, KeyVaultKey
from azure.keyvault.secrets import SecretClient
from cryptography import x509

from signer.algorithms import KeySpec, key_spec_of_certificate
from signer.errors import CertificateError, ConfigurationError, KeyVaultError, SignerError
from signer.signers.keyvault_chain import (
    SOURCE_OPTIONS,
    ChainSource,
    certificates_from_secret,
    is_self_signed,
    load_ca_bundle,
    order_chain,
    same_certificate,
    self_signed_chain,
)
from signer.signers.keyvault_crypto import jwk_public_key, same_public_key, verifies
from signer.signers.keyvault_errors import operation, translate
from signer.signers.keyvault_ids import KeyVaultId, parse_key_vault_id, same_key_id
from signer.signers.keyvault_sign import VaultSigning

_log = logging.getLogger(__name__)

#: after a failed refresh, wait this long (at most) before trying again
_REFRESH_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class VaultKey:
    """One certificate version: its chain, its key's client, its versioned kid (a SigningKey).

    Immutable: a signature made with it is by this version whatever rotates meanwhile.
    """

    kid: str  # versioned
    version: str
    chain: tuple[x509.Certificate, ...]
    spec: KeySpec
    signing: VaultSigning
    loaded_at: float

    @property
    def key_id(self) -> str:
        return self.kid

    def sign(self, data: bytes) -> bytes:
        """One Key Vault sign call over the digest of ``data``, its answer checked."""
        alg = self.spec.algorithm
        digest = alg.digest(data)
        answer = self.signing.sign(self.kid, alg.name, digest)
        if answer.kid is not None and not same_key_id(answer.kid, self.kid):
            raise KeyVaultError(
                f"Key Vault signed with key {answer.kid} but {self.kid} was asked for"
            )
        if answer.alg is not None and answer.alg != alg.name:
            raise KeyVaultError(
                f"Key Vault signed with algorithm {answer.alg} but {alg.name} was asked for"
            )
        if not verifies(self.chain[0], alg, digest, answer.signature):
            raise KeyVaultError(
                f"the signature from {self.kid} does not verify with the leaf certificate's "
                f"public key ({alg.name})"
            )
        return answer.signature


class KeyVaultSigner:
    def __init__(
        self,
        key_id: str,
        *,
        credential: TokenCredential,
        chain_source: ChainSource | str = ChainSource.AUTO,
        ca_bundle_path: str | Path | None = None,
        refresh_seconds: float = 3600.0,
        stale_grace_seconds: float = 6 * 3600.0,
        sign_attempts: int = 3,
        sign_retry_delay: float = 0.2,
        retry_total: int = 3,
        retry_backoff_factor: float = 0.5,
        connection_timeout: float = 10.0,
        read_timeout: float = 30.0,
        connection_verify: bool | str = True,
        verify_challenge_resource: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Nothing is fetched here; the first use loads the chain (see ``warm_up``).

        ``retry_total``/``retry_backoff_factor`` tune the SDK's retries (429 with Retry-After,
        5xx); ``sign_attempts`` bounds this signer's own retry of a sign call whose connection
        dropped, which the SDK does not retry because sign is a POST.
        """
        self._id: KeyVaultId = parse_key_vault_id(key_id)
        self._source = ChainSource.parse(chain_source)
        if self._source is ChainSource.CA_BUNDLE and not ca_bundle_path:
            raise ConfigurationError("the chain source 'ca-bundle' needs a CA bundle file path")
        if self._source is not ChainSource.CA_BUNDLE and ca_bundle_path:
            raise ConfigurationError(
                f"a CA bundle file is only used with the chain source 'ca-bundle', not "
                f"{self._source.value!r}"
            )
        if refresh_seconds <= 0 or stale_grace_seconds < 0 or sign_attempts < 1:
            raise ConfigurationError(
                "refresh_seconds must be > 0, stale_grace_seconds >= 0, sign_attempts >= 1"
            )
        self._ca_bundle_path = Path(ca_bundle_path) if ca_bundle_path else None
        self._refresh_seconds = float(refresh_seconds)
        self._grace_seconds = float(stale_grace_seconds)
        self._clock = clock
        self._credential = credential
        self._sdk_options: dict[str, Any] = {
            "connection_verify": connection_verify,
            "verify_challenge_resource": verify_challenge_resource,
            "retry_total": retry_total,
            "retry_backoff_factor": retry_backoff_factor,
            "connection_timeout": connection_timeout,
            "read_timeout": read_timeout,
        }
        vault = self._id.vault_url
        self._certificates = CertificateClient(vault, credential, **self._sdk_options)
        self._keys = KeyClient(vault, credential, **self._sdk_options)
        self._secrets = (
            SecretClient(vault, credential, **self._sdk_options)
            if self._source in (ChainSource.SECRET, ChainSource.AUTO)
            else None
        )
        self._signing = VaultSigning(
            vault,
            credential,
            verify_challenge_resource=verify_challenge_resource,
            tls_verify=connection_verify,
            connect_timeout=connection_timeout,
            read_timeout=read_timeout,
            retry_total=retry_total,
            retry_backoff_factor=retry_backoff_factor,
            sign_attempts=sign_attempts,
            sign_retry_delay=sign_retry_delay,
            sleep=sleep,
        )
        self._state: VaultKey | None = None
        self._next_refresh = 0.0
        self._lock = threading.Lock()

    # --- Signer protocol ---------------------------------------------------------------

    @property
    def key_id(self) -> str:
        """The configured key id (versionless when the latest version is followed)."""
        return self._id.key_id

    def signing_key(self) -> VaultKey:
        """The current certificate version (loaded on first use, re-read when due)."""
        return self._current()

    # --- lifecycle -----------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the chain now, so configuration errors show at start rather than first sign."""
        self._current()

    def close(self) -> None:
        self._certificates.close()
        self._keys.close()
        if self._secrets is not None:
            self._secrets.close()
        self._signing.close()

    def __enter__(self) -> KeyVaultSigner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- chain and key version -----------------------------------------------------------

    def _current(self) -> VaultKey:
        state = self._state
        if state is not None and (self._id.version or self._clock() < self._next_refresh):
            return state
        if state is None:
            with self._lock:
                if self._state is None:
                    self._state = self._load(None)
                    self._next_refresh = self._clock() + self._refresh_seconds
                return self._state
        # a refresh is due: one thread does it, the others keep using the cached state
        if not self._lock.acquire(blocking=False):
            return state
        try:
            return self._refresh(state)
        finally:
            self._lock.release()

    def _refresh(self, state: VaultKey) -> VaultKey:
        now = self._clock()
        if now < self._next_refresh and self._state is not None:
            return self._state
        try:
            fresh = self._load(state)
        except SignerError as exc:
            return self._serve_stale(state, now, exc)
        if fresh.version != state.version:
            # signatures in progress finish with the old version (their VaultKey keeps it)
            _log.info("Key Vault certificate rotated: now signing with %s", fresh.kid)
        self._state = fresh
        self._next_refresh = now + self._refresh_seconds
        return fresh

    def _serve_stale(self, state: VaultKey, now: float, exc: SignerError) -> VaultKey:
        if now - state.loaded_at >= self._refresh_seconds + self._grace_seconds:
            raise exc
        _log.warning(
            "could not refresh the certificate chain of %s (%s); still signing with %s",
            self._id.key_id,
            exc,
            state.kid,
        )
        self._next_refresh = now + min(_REFRESH_RETRY_SECONDS, self._refresh_seconds)
        return state

    def _load(self, previous: VaultKey | None) -> VaultKey:
        cert = self._get_certificate()
        version = (cert.properties.version if cert.properties else None) or ""
        if self._id.version and version != self._id.version:
            raise KeyVaultError(
                f"Key Vault returned certificate version {version!r} for {self._id.certificate_id}"
            )
        expected_kid = self._id.with_version(version).key_id
        if not version or not same_key_id(cert.key_id, expected_kid):
            raise KeyVaultError(
                f"certificate {self._id.name} version {version!r} is backed by key "
                f"{cert.key_id}, not {expected_kid}"
            )
        if not cert.cer:
            raise CertificateError(f"certificate {self._id.name} ({version}) has no content")
        try:
            leaf = x509.load_der_x509_certificate(bytes(cert.cer))
        except ValueError:
            raise CertificateError(
                f"certificate {self._id.name} ({version}) is not valid DER"
            ) from None
        chain = self._chain(leaf, version)
        spec = key_spec_of_certificate(leaf)
        if previous is None or not same_key_id(previous.kid, expected_kid):
            self._check_key(expected_kid, version, leaf)
        return VaultKey(expected_kid, version, tuple(chain), spec, self._signing, self._clock())

    def _check_key(self, kid: str, version: str, leaf: x509.Certificate) -> None:
        """The vault key of this version is the certificate's (one GET key per version).

        Done under the load lock, before anything is signed with the version. Without the
        keys/get permission (access policies with sign only) the check is skipped: verifying
        every signature against the leaf still proves key and chain match.
        """
        op = operation(f"read key {self._id.name} ({version})", "keys/get", self._id.vault_url)
        try:
            key: KeyVaultKey = self._keys.get_key(self._id.name, version)
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise translate(exc, op) from None
            _log.info("no keys/get permission on %s; key checked by signature only", kid)
            return
        except AzureError as exc:
            raise translate(exc, op) from None
        if not same_key_id(key.id, kid):
            raise KeyVaultError(f"Key Vault returned key {key.id} when {kid} was asked for")
        public = jwk_public_key(key.key)
        if public is None or not same_public_key(public, leaf):
            raise KeyVaultError(
                f"key {kid} is not the key of its certificate (the public keys differ)"
            )

    def _get_certificate(self) -> KeyVaultCertificate:
        name, version = self._id.name, self._id.version
        op = operation(f"read certificate {name}", "certificates/get", self._id.vault_url)
        try:
            if version:
                return self._certificates.get_certificate_version(name, version)
            return self._certificates.get_certificate(name)
        except AzureError as exc:
            raise translate(exc, op) from None

    def _chain(self, leaf: x509.Certificate, version: str) -> list[x509.Certificate]:
        if self._source is ChainSource.CERTIFICATE or (
            self._source is ChainSource.AUTO and is_self_signed(leaf)
        ):
            return self_signed_chain(leaf)
        if self._source is ChainSource.CA_BUNDLE:
            assert self._ca_bundle_path is not None
            bundle = load_ca_bundle(self._ca_bundle_path)
            return order_chain(leaf, bundle, f"CA bundle {self._ca_bundle_path}")
        certs = self._secret_certificates(version)
        if not any(same_certificate(leaf, c) for c in certs):
            raise CertificateError(
                f"the secret of certificate {self._id.name} ({version}) does not contain the "
                "certificate itself"
            )
        return order_chain(leaf, certs, f"secret of certificate {self._id.name}")

    def _secret_certificates(self, version: str) -> list[x509.Certificate]:
        assert self._secrets is not None
        name = self._id.name
        op = operation(f"read the secret of certificate {name}", "secrets/get", self._id.vault_url)
        try:
            secret = self._secrets.get_secret(name, version)
        except AzureError as exc:
            error = translate(exc, op)
            if self._source is ChainSource.AUTO and isinstance(error, KeyVaultError):
                # the default read the secret because the certificate is CA-issued: say so,
                # and how to do without the secret
                raise KeyVaultError(
                    f"certificate {name} is CA-issued, so its chain is read from its secret "
                    f"({SOURCE_OPTIONS['auto']}): {error}; or give the chain as a file with "
                    f"{SOURCE_OPTIONS['ca-bundle']}"
                ) from None
            raise error from None
        # the value may include the private key: parse, keep certificates, drop the rest
        certs = certificates_from_secret(secret.properties.content_type, secret.value)
        del secret
        return certs
