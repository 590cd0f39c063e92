"""The signer side: ask a TSA for a timestamp over a signature and check the answer.

``Timestamper.timestamp`` sends one TimeStampReq (``request.py``) and, when the TSA
answers, makes no other request: the answer is either a checked Timestamp or an error.
Only a failure to get an answer is retried — connection errors, timeouts, HTTP 5xx and
429 (honouring Retry-After up to ``max_retry_after``) — at most ``retries`` more times,
with a short jittered back-off, all within the call's ``timeout``. This mirrors the Key
Vault client's policy (three tries, connect 10 s, read 30 s), all within 15 s by default:
notation's own limit for its single try, and half of the 30 s Event Grid waits for the
whole event.

The checks are notation's when it signs (notation-core-go internal/timestamp): the
answer answers the request (``response.py``), the token's signature and chain verify
against the configured roots now (``signed.py``, ``chain.py``), and the chain passes the
timestamping certificate rules. On top, the timestamp's range must lie within every
signing certificate's validity — what a verifier checks later — so that a signature is
never pushed with a timestamp that would fail verification.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urlsplit

from cryptography import x509

from signer.errors import ConfigurationError
from signer.http import FailureKind, TransportError, UnsafeUrlError, origin_of
from signer.registry.transport import retry_after_seconds
from signer.timestamp.chain import validate_tsa_chain
from signer.timestamp.errors import (
    CONNECTION,
    CONTENT_TYPE,
    DEADLINE,
    HTTP_STATUS,
    SERVER_ERROR,
    THROTTLED,
    TIMEOUT,
    TOO_LARGE,
    TimestampInvalidError,
    TimestampUnavailableError,
)
from signer.timestamp.http import REPLY_MEDIA_TYPE, DeadlineExceededError, new_client, post_query
from signer.timestamp.model import Timestamp
from signer.timestamp.request import build_request, check_hash_name, check_policy
from signer.timestamp.response import token_for_request
from signer.timestamp.roots import check_roots
from signer.timestamp.signed import verify_token
from signer.timestamp.verify import timestamp_from

MAX_REPLY_SIZE = 256 * 1024  # a TSA reply with its chain is a few KiB


class _RetryableError(Exception):
    """Internal: this attempt failed in a way another attempt may not."""

    def __init__(self, why: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.reason = reason
        self.retry_after = retry_after


def _where(url: str) -> str:
    """The URL without credentials or query, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class Timestamper:
    """An RFC 3161 client for one TSA, trusting ``root_certificates`` for its answers.

    Thread-safe; one HTTP client (connection pool) per instance. ``timeout`` bounds a whole
    ``timestamp`` call (every attempt, back-off and body read); ``connect_timeout`` and
    ``read_timeout`` bound each connect and each socket read within it. ``policy`` (a
    dotted OID) is sent as reqPolicy and required in the answer; notation sends none.
    """

    def __init__(
        self,
        url: str,
        root_certificates: Sequence[x509.Certificate],
        *,
        timeout: float = 15.0,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        retries: int = 2,
        retry_backoff: float = 0.5,
        max_retry_after: float = 10.0,
        policy: str | None = None,
        max_reply_size: int = MAX_REPLY_SIZE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            parts = urlsplit(url)
            where = _where(url)
        except ValueError:  # a bad port or bracketed host
            raise ConfigurationError("the timestamp URL is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"timestamp URL {where!r}: an http or https URL with a host is required"
            )
        if parts.username is not None or parts.password is not None:
            # a secret in an app setting's URL would travel in every request and log line;
            # TSAs that need a key take it in the query, which messages never show
            raise ConfigurationError(
                f"timestamp URL {where!r}: user information (credentials) is not supported"
            )
        try:
            origin_of(url)
        except UnsafeUrlError as exc:
            raise ConfigurationError(f"timestamp URL {where!r}: {exc}") from None
        if min(timeout, connect_timeout, read_timeout) <= 0 or retries < 0:
            raise ConfigurationError("timestamp timeouts must be > 0 and retries >= 0")
        check_roots(root_certificates)
        self.url = url
        self.where = where
        self._roots = tuple(root_certificates)
        self._timeout = float(timeout)
        self._connect_timeout = float(connect_timeout)
        self._read_timeout = float(read_timeout)
        self._attempts = retries + 1
        self._backoff = float(retry_backoff)
        self._max_retry_after = float(max_retry_after)
        self._policy = check_policy(policy)
        self._max_reply = max_reply_size
        self._sleep = sleep
        self._http = new_client(
            timeout=self._timeout,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
        )
        self._lock = threading.Lock()
        self._sent = 0

    # --- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Timestamper:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def roots(self) -> tuple[x509.Certificate, ...]:
        """The TSA roots this client trusts (a signature's existing timestamp is judged
        against them too)."""
        return self._roots

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent to the TSA so far (retries included)."""
        with self._lock:
            return self._sent

    # --- the call --------------------------------------------------------------------------

    def timestamp(
        self, signature: bytes, hash_name: str, signing_chain: Sequence[x509.Certificate]
    ) -> Timestamp:
        """A checked timestamp over ``signature``, the COSE signature value.

        ``hash_name`` is the hash of the signature algorithm (sha256 for PS256/ES256,
        sha384 for PS384/ES384, sha512 for PS512/ES512); ``signing_chain`` the signing
        certificate chain, which must be valid over the timestamp's whole range.
        Raises TimestampUnavailableError (transient) or TimestampInvalidError.
        """
        check_hash_name(hash_name)
        if not signing_chain:
            raise ConfigurationError("a timestamp needs the signing certificate chain")
        request = build_request(signature, hash_name, policy=self._policy)
        reply = self._exchange(request.der)
        try:
            token = token_for_request(reply, request)
            chain = verify_token(token, self._roots, at=datetime.now(UTC))
            validate_tsa_chain(chain)
            stamp = timestamp_from(token, chain)
            stamp.check_within(signing_chain)
        except TimestampInvalidError as exc:
            raise exc.prefixed(f"timestamp from {self.where}") from None
        except TimestampUnavailableError as exc:
            raise TimestampUnavailableError(
                f"timestamp from {self.where}: {exc.message}", reason=exc.reason
            ) from None
        return stamp

    def _exchange(self, query: bytes) -> bytes:
        """The reply body of the first attempt that gets an answer."""
        deadline = time.monotonic() + self._timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(query, deadline)
            except _RetryableError as failure:
                wait = failure.retry_after
                if wait is not None and wait > self._max_retry_after:
                    raise TimestampUnavailableError(
                        f"timestamp from {self.where}: {failure.why} with Retry-After "
                        f"{wait:.0f}s (more than {self._max_retry_after:g}s)",
                        reason=failure.reason,
                    ) from None
                if attempt >= self._attempts:
                    raise TimestampUnavailableError(
                        f"timestamp from {self.where}: {failure.why} after {attempt} attempts",
                        reason=failure.reason,
                    ) from None
                if wait is None:
                    wait = self._backoff * 2 ** (attempt - 1) * (0.5 + random.random() / 2)  # noqa: S311
                if time.monotonic() + wait >= deadline:
                    raise TimestampUnavailableError(
                        f"timestamp from {self.where}: {failure.why}; no time left for another "
                        f"attempt within {self._timeout:g}s",
                        reason=failure.reason,
                    ) from None
                self._sleep(wait)

    def _out_of_time(self) -> TimestampUnavailableError:
        return TimestampUnavailableError(
            f"timestamp from {self.where}: no complete answer within {self._timeout:g}s",
            reason=DEADLINE,
        )

    def _transport_failure(self, exc: TransportError, deadline: float) -> Exception:
        """What a failed exchange means for this call: retry, give up now, or refuse."""
        if exc.kind is FailureKind.TIMEOUT:
            if time.monotonic() >= deadline - 0.05:  # the call's own budget ran out
                return self._out_of_time()
            return _RetryableError(exc.detail, TIMEOUT)
        if exc.kind is FailureKind.TOO_LARGE:
            return TimestampInvalidError(
                f"timestamp from {self.where}: the reply is larger than {self._max_reply} bytes",
                reason=TOO_LARGE,
            )
        if exc.kind is FailureKind.TLS:
            # the same handshake fails the same way at once: no retry within this call
            return TimestampUnavailableError(
                f"timestamp from {self.where}: TLS handshake failed ({exc.detail})",
                reason=CONNECTION,
            )
        if exc.kind is FailureKind.UNSAFE:  # e.g. a proxy variable that is not a URL
            return ConfigurationError(f"timestamp from {self.where}: {exc.detail}")
        return _RetryableError(exc.detail, CONNECTION)  # refused, reset, a garbled answer

    def _attempt(self, query: bytes, deadline: float) -> bytes:
        with self._lock:
            self._sent += 1
        try:
            reply = post_query(
                self._http, self.url, query, deadline=deadline, max_body=self._max_reply
            )
        except DeadlineExceededError:
            raise self._out_of_time() from None
        except TransportError as exc:
            raise self._transport_failure(exc, deadline) from None
        if reply.status == 200:
            if reply.media_type != REPLY_MEDIA_TYPE:
                raise TimestampInvalidError(
                    f"timestamp from {self.where}: unexpected response content type "
                    f"{reply.media_type[:60]!r} (want {REPLY_MEDIA_TYPE})",
                    reason=CONTENT_TYPE,
                )
            return reply.body
        if reply.status == 429 or 500 <= reply.status <= 599:
            raise _RetryableError(
                f"HTTP {reply.status}",
                THROTTLED if reply.status == 429 else SERVER_ERROR,
                retry_after_seconds(reply.retry_after),
            )
        raise TimestampInvalidError(
            f"timestamp from {self.where}: HTTP {reply.status} (want 200)", reason=HTTP_STATUS
        )
