"""What each trigger does, free of ``azure.functions`` so it runs the same in tests.

An event is parsed, checked against the app's own rules (this registry, the filters),
and handed to the signing service in one call with the ledger's journal; the service
owns the whole attempt. Error policy (see README "Operation"): a permanent problem is
recorded in the ledger, logged once and acknowledged; a transient one is recorded and
re-raised so the platform delivers the event again. Nothing is dropped silently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.ledger import Ledger, Origin
from shared.outcomes import Publisher
from shared.settings import Settings
from signer.errors import (
    ConfigurationError,
    InvalidEventError,
    InvalidReferenceError,
    InvalidRequestError,
    NotFoundError,
    SignerError,
    TransientError,
)
from signer.events import PUSH_EVENT_TYPES, PushEvent, parse_push_event
from signer.models import Countersignature, Failed, Outcome, Signed, SignRequest, Skipped
from signer.options import check_metadata, parse_duration, parse_metadata
from signer.reference import Reference
from signer.service import SigningService, as_signer_error

log = logging.getLogger("signer")

MAX_BODY_BYTES = 64 * 1024
MAX_BATCH = 100
_SIGN_FIELDS = {"reference", "references", "force", "expiry", "userMetadata"}

__all__ = ["Handlers", "Origin", "Result"]


@dataclass(frozen=True)
class Result:
    """One artifact's answer, as the HTTP API and the logs report it."""

    reference: str
    status: str  # signed | skipped | failed | ignored
    reason: str = ""
    code: str = ""
    digest: str | None = None
    signature_digest: str | None = None
    transient: bool = False
    certificate_thumbprint: str | None = None  # the leaf that signed (signed results)
    timestamp: Countersignature | None = None  # its RFC 3161 timestamp, when configured

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reference": self.reference, "status": self.status}
        if self.digest:
            out["digest"] = self.digest
        if self.signature_digest:
            out["signatureDigest"] = self.signature_digest
        if self.reason:
            out["reason"] = self.reason
        if self.code:
            out["code"] = self.code
        if self.timestamp:
            out["timestamp"] = {
                "time": self.timestamp.time_text,
                "authority": self.timestamp.authority,
            }
        return out

    @classmethod
    def of(cls, reference: str, outcome: Outcome) -> Result:
        if isinstance(outcome, Signed):
            return cls(
                reference,
                "signed",
                digest=outcome.subject.digest,
                signature_digest=outcome.signature.digest,
                certificate_thumbprint=outcome.certificate_thumbprints[0],
                timestamp=outcome.timestamp,
            )
        if isinstance(outcome, Skipped):
            return cls(reference, "skipped", outcome.detail, outcome.reason, outcome.digest)
        return cls(
            reference,
            "failed",
            outcome.detail,
            outcome.code,
            outcome.digest,
            transient=outcome.transient,
        )


class Handlers:
    def __init__(
        self,
        *,
        settings: Settings,
        service: SigningService,
        ledger: Ledger,
        publisher: Publisher,
    ) -> None:
        self.settings = settings
        self.service = service
        self.ledger = ledger
        self.publisher = publisher

    # --- Event Grid ----------------------------------------------------------------

    def on_event(self, event_id: Any, event_type: Any, data: Any) -> list[Result]:
        """Handle one delivered event; raises TransientError to have it redelivered."""
        if event_type not in PUSH_EVENT_TYPES:
            log.info(
                "ignored event_id=%.130r event_type=%.200r: not a push event", event_id, event_type
            )
            return [Result(reference="", status="ignored", reason=f"event type {event_type!r}")]
        try:
            event = parse_push_event(event_id, str(event_type), data)
        except InvalidEventError as exc:
            return [self._rejected_event(event_id, exc)]
        origin = Origin.event(event.event_id)
        early = self._event_precheck(event)
        if early is not None:
            self.ledger.record(
                early.status,
                digest=event.digest,
                registry=event.registry or "",
                repository=event.repository,
                tag=event.tag or "",
                reason=early.reason,
                code=early.code,
                event_id=event.event_id,
                correlation_id=event.event_id,
            )
            self._log(early, origin, event.repository)
            return [early]
        request = SignRequest(
            registry=self.settings.registry,
            repository=event.repository,
            reference=event.digest,  # never the tag: it may have moved since the push
            tag=event.tag,
            expiry=self.settings.expiry,
            user_metadata=self.settings.user_metadata,
        )
        reference = f"{self.settings.registry}/{event.repository}@{event.digest}"
        return self._sign(request, reference, origin)

    def _event_precheck(self, event: PushEvent) -> Result | None:
        ref = f"{event.registry or '?'}/{event.repository}@{event.digest}"
        if event.registry is not None and event.registry != self.settings.registry:
            return Result(
                ref,
                "failed",
                f"event is for registry {event.registry!r}, this signer serves "
                f"{self.settings.registry!r}",
                code="wrong_registry",
                digest=event.digest,
            )
        if event.is_legacy_chart:
            return Result(
                ref,
                "skipped",
                "legacy Helm repository chart: not an OCI manifest, cannot carry signatures",
                code="not_a_manifest",
                digest=event.digest,
            )
        rejection = self.settings.push_filter.rejection(event.repository, event.tag)
        if rejection is not None:
            return Result(ref, "skipped", rejection, code="filtered", digest=event.digest)
        return None

    def _rejected_event(self, event_id: Any, exc: InvalidEventError) -> Result:
        result = Result("", "failed", str(exc), code=exc.code)
        self.ledger.record(
            "failed",
            digest="invalid-event",
            reason=str(exc),
            code=exc.code,
            event_id=str(event_id)[:128] if event_id is not None else "",
        )
        log.warning("failed event_id=%.130r: %s", event_id, exc)
        return result

    def _sign(self, request: SignRequest, reference: str, origin: Origin) -> list[Result]:
        """One service call; log and publish what it reports. Transient errors propagate."""
        try:
            outcomes = self.service.sign(request, self.ledger.journal(origin))
        except TransientError as exc:
            self._log(Result(reference, "failed", str(exc), exc.code, transient=True), origin,
                      request.repository)  # fmt: skip
            raise
        results = []
        for n, outcome in enumerate(outcomes):
            ref = (
                reference if n == 0 else f"{request.registry}/{request.repository}@{outcome.digest}"
            )
            result = Result.of(ref, outcome)
            self._log(result, origin, request.repository)
            if isinstance(outcome, Signed | Failed):
                self._publish(result, request)
            results.append(result)
        return results

    def _publish(self, result: Result, request: SignRequest) -> None:
        self.publisher.publish(
            result.status,
            {
                "registry": request.registry,
                "repository": request.repository,
                "tag": request.tag,
                "digest": result.digest,
                "signatureDigest": result.signature_digest,
                "reason": result.reason,
                "certificateThumbprint": result.certificate_thumbprint,
                "timestampTime": result.timestamp.time_text if result.timestamp else None,
                "timestampAuthority": result.timestamp.authority if result.timestamp else None,
            },
        )

    @staticmethod
    def _log(result: Result, origin: Origin, repository: str) -> None:
        level = logging.WARNING if result.status == "failed" else logging.INFO
        log.log(
            level,
            "%s event_id=%s correlation_id=%s repository=%s digest=%s signature=%s code=%s "
            "reason=%s",
            result.status,
            origin.event_id or "-",
            origin.correlation_id,
            repository,
            result.digest or "-",
            result.signature_digest or "-",
            result.code or "-",
            result.reason or "-",
        )

    # --- HTTP: POST /api/sign ----------------------------------------------------

    def on_sign_request(self, body: bytes, correlation_id: str) -> tuple[int, dict[str, Any]]:
        try:
            requests = self._parse_sign_body(body)
        except (InvalidRequestError, ConfigurationError, InvalidReferenceError) as exc:
            log.warning("rejected sign request correlation_id=%s: %s", correlation_id, exc)
            return 400, {"error": {"code": "invalid_request", "message": str(exc)}}
        results: list[Result] = []
        origin = Origin.http(correlation_id)
        for item in requests:
            if isinstance(item, Result):
                results.append(item)
                continue
            request, reference = item
            try:
                results.extend(self._sign(request, reference, origin))
            except TransientError as exc:
                results.append(Result(reference, "failed", str(exc), exc.code, transient=True))
        return _http_status(results), {"results": [r.to_json() for r in results]}

    def _parse_sign_body(self, body: bytes) -> list[tuple[SignRequest, str] | Result]:
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequestError(f"request body is larger than {MAX_BODY_BYTES} bytes")
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # too deep for json: invalid
            raise InvalidRequestError("request body is not valid JSON") from None
        if not isinstance(doc, dict):
            raise InvalidRequestError("request body must be a JSON object")
        unknown = set(doc) - _SIGN_FIELDS
        if unknown:
            raise InvalidRequestError(f"unknown fields: {', '.join(sorted(unknown))}")
        if ("reference" in doc) == ("references" in doc):
            raise InvalidRequestError('give exactly one of "reference" or "references"')
        refs = doc["references"] if "references" in doc else [doc["reference"]]
        if not isinstance(refs, list) or not refs:
            raise InvalidRequestError('"references" must be a non-empty array of strings')
        if len(refs) > MAX_BATCH:
            raise InvalidRequestError(f"at most {MAX_BATCH} references per request")
        force = doc.get("force", False)
        if not isinstance(force, bool):
            raise InvalidRequestError('"force" must be true or false')
        expiry = _expiry(doc.get("expiry"))
        metadata = _metadata(doc.get("userMetadata"))
        out: list[tuple[SignRequest, str] | Result] = []
        for raw in refs:
            if not isinstance(raw, str):
                raise InvalidRequestError("every reference must be a string")
            try:
                ref = Reference.parse(raw)
            except InvalidReferenceError as exc:
                out.append(Result(str(raw)[:300], "failed", str(exc), exc.code))
                continue
            if ref.registry != self.settings.registry:
                out.append(
                    Result(
                        raw,
                        "failed",
                        f"registry {ref.registry!r} is not the one this signer serves "
                        f"({self.settings.registry!r})",
                        "wrong_registry",
                    )
                )
                continue
            request = SignRequest(
                registry=ref.registry,
                repository=ref.repository,
                reference=ref.target,
                tag=ref.tag,
                expiry=expiry if expiry is not None else self.settings.expiry,
                user_metadata=metadata if metadata is not None else self.settings.user_metadata,
                force=force,
            )
            out.append((request, str(ref)))
        return out

    # --- HTTP: GET /api/status ------------------------------------------------------

    def on_status(self, reference: str | None) -> tuple[int, dict[str, Any]]:
        if not reference:
            return 400, {"error": {"code": "invalid_request", "message": "?reference= is required"}}
        try:
            ref = Reference.parse(reference)
            if ref.registry != self.settings.registry:  # never answer with this one's data
                raise _WrongRegistryError(
                    f"registry {ref.registry!r} is not the one this signer serves "
                    f"({self.settings.registry!r})"
                )
        except InvalidReferenceError as exc:
            return 400, {"error": {"code": exc.code, "message": str(exc)}}
        digest = ref.digest
        if digest is None:
            try:
                digest = self.service.registry.resolve(ref.repository, ref.target).descriptor.digest
            except NotFoundError as exc:
                return 404, {"error": {"code": exc.code, "message": str(exc)}}
            except Exception as raised:
                error = as_signer_error(raised, f"resolving {ref}")
                return _error_status(error), {"error": {"code": error.code, "message": str(error)}}
        history = self.ledger.history(digest, registry=ref.registry, repository=ref.repository)
        if not history:
            return 404, {
                "reference": str(ref),
                "digest": digest,
                "status": "unknown",
                "history": [],
            }
        return 200, {
            "reference": str(ref),
            "digest": digest,
            "status": history[0].get("status", "unknown"),
            "history": history,
        }


class _WrongRegistryError(InvalidReferenceError):
    code = "wrong_registry"


def _expiry(value: Any) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequestError('"expiry" must be a duration string such as "8760h"')
    try:
        return parse_duration(value, '"expiry"')
    except ConfigurationError as exc:
        raise InvalidRequestError(str(exc)) from None


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_metadata(value, '"userMetadata"')
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidRequestError('"userMetadata" must be an object of string values')
    return check_metadata(dict(value), '"userMetadata"')


def _error_status(exc: SignerError) -> int:
    if isinstance(exc, TransientError):
        return 503
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InvalidReferenceError | InvalidRequestError):
        return 400
    return 422


def _http_status(results: Sequence[Result]) -> int:
    """200 all done; 207 mixed; otherwise the status the failures share."""
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return 200
    if any(r.transient for r in failed):
        return 503
    if len(failed) < len(results):
        return 207
    codes = {r.code for r in failed}
    if codes <= {"invalid_reference", "wrong_registry", "invalid_request"}:
        return 400
    if codes == {"not_found"}:
        return 404
    return 422
