"""Re-submit the pushes Event Grid dead-lettered to POST /api/sign, and say what became of each.

    export SIGNER_FUNCTION_KEY=$(az functionapp keys list -g <rg> -n <app> \\
        --query functionKeys.default -o tsv)
    eval "$(azd env get-values)"     # STORAGE_BLOB_ENDPOINT, SIGN_ENDPOINT, SIGNER_REGISTRY, ...
    python -m scripts.replay_dead_letters [--dry-run] [--delete-replayed] [--json]

Event Grid writes what it gives up on (after the retry policy, or at once for a 400) to
the dead-letter container as JSON arrays of the original events, each with
deadLetterReason, deliveryAttempts, lastDeliveryOutcome, lastHttpStatusCode, publishTime
and lastDeliveryAttemptTime added, in blobs named
``<SUBSCRIPTION-NAME>/<yyyy>/<m>/<d>/<h>/<guid>.json``. This script reads every blob
(or those under ``--prefix``), validates each event as the function would
(signer.events), and asks the signer to sign ``<registry>/<repository>@<digest>``, at
most 100 references per request (the API's limit), without ``force``: an image already
signed comes back ``skipped``, so running it twice is safe.

A blob that is not JSON or not an array of events, an event that is not an ACR push or
is malformed, and a push to another registry are reported and left alone; the run goes
on. The function key is read from an environment variable (``--function-key-env``),
sent only in the ``x-functions-key`` header over HTTPS, and never printed.

Exit status: 0 when every replayable push was signed or skipped; 1 when one failed or a
blob or event could not be read; 2 when the script cannot run (settings, key, storage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from signer.errors import ConfigurationError, InvalidEventError, SignerError
from signer.events import PUSH_EVENT_TYPES, parse_push_event

MAX_BATCH = 100  # shared/handlers.py MAX_BATCH: the API refuses more
DEAD_LETTER_FIELDS = ("deadLetterReason", "deliveryAttempts", "lastDeliveryOutcome")


class BlobSource(Protocol):
    """The two container operations the replay needs (azure-storage-blob ContainerClient)."""

    def list_blob_names(self, prefix: str | None) -> Iterable[str]: ...

    def read(self, name: str) -> bytes: ...

    def delete(self, name: str) -> None: ...


@dataclass(frozen=True)
class Replayable:
    reference: str
    blob: str
    event_id: str
    dead_letter: dict[str, Any]


@dataclass(frozen=True)
class Skipped:
    blob: str
    event_id: str
    reason: str
    unreadable: bool  # True: could not be read or validated (needs a look); False: not ours


@dataclass
class Outcome:
    reference: str
    status: str  # signed | skipped | failed
    reason: str = ""
    code: str = ""
    blobs: list[str] = field(default_factory=list)


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(o.status == "failed" for o in self.outcomes) or any(
            s.unreadable for s in self.skipped
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [
                {
                    "reference": o.reference,
                    "status": o.status,
                    "reason": o.reason,
                    "code": o.code,
                    "blobs": o.blobs,
                }
                for o in self.outcomes
            ],
            "notReplayed": [
                {
                    "blob": s.blob,
                    "eventId": s.event_id,
                    "reason": s.reason,
                    "unreadable": s.unreadable,
                }
                for s in self.skipped
            ],
            "deletedBlobs": self.deleted,
        }


# ---------------------------------------------------------------------------------
# Reading dead letters
# ---------------------------------------------------------------------------------


def read_blob(name: str, raw: bytes, registry: str) -> tuple[list[Replayable], list[Skipped]]:
    """The pushes in one dead-letter blob, and what in it cannot or should not be replayed."""
    try:
        events = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return [], [Skipped(name, "", "not JSON", unreadable=True)]
    if not isinstance(events, list):
        return [], [Skipped(name, "", "not an array of events", unreadable=True)]
    replayable: list[Replayable] = []
    skipped: list[Skipped] = []
    for index, event in enumerate(events):
        found = read_event(name, index, event, registry)
        if isinstance(found, Replayable):
            replayable.append(found)
        else:
            skipped.append(found)
    return replayable, skipped


def read_event(name: str, index: int, event: Any, registry: str) -> Replayable | Skipped:
    where = f"event {index}"
    if not isinstance(event, dict):
        return Skipped(name, where, "event is not a JSON object", unreadable=True)
    event_id = str(event.get("id", where))[:128]
    # Event Grid schema (what the subscription uses) or CloudEvents 1.0.
    event_type = event.get("eventType", event.get("type"))
    if event_type not in PUSH_EVENT_TYPES:
        return Skipped(name, event_id, f"not a push event ({str(event_type)[:100]!r})", False)
    try:
        push = parse_push_event(event.get("id"), str(event_type), event.get("data"))
    except InvalidEventError as exc:
        return Skipped(name, event_id, f"invalid event: {exc}", unreadable=True)
    if push.registry != registry:
        return Skipped(name, event_id, f"for registry {push.registry!r}, not {registry!r}", False)
    if push.is_legacy_chart:
        return Skipped(name, event_id, "legacy Helm chart: cannot carry a signature", False)
    dead_letter = {k: event[k] for k in DEAD_LETTER_FIELDS if k in event}
    dead_letter.update({k: event[k.lower()] for k in DEAD_LETTER_FIELDS if k.lower() in event})
    reference = f"{registry}/{push.repository}@{push.digest}"
    return Replayable(reference, name, event_id, dead_letter)


# ---------------------------------------------------------------------------------
# Signing
# ---------------------------------------------------------------------------------


class SignClient:
    """POST /api/sign with the function key; retries what the API calls transient."""

    def __init__(
        self,
        endpoint: str,
        function_key: str,
        *,
        session: requests.Session | None = None,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 300,
    ) -> None:
        parsed = urllib.parse.urlsplit(endpoint)
        loopback = parsed.hostname in ("127.0.0.1", "localhost", "::1")
        if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
            raise ConfigurationError(f"the sign endpoint must be https, got {endpoint!r}")
        if not function_key:
            raise ConfigurationError("the function key is empty")
        self.endpoint = endpoint
        self._key = function_key
        self._session = session or requests.Session()
        self._attempts = attempts
        self._sleep = sleep
        self._timeout = timeout

    def sign(self, references: list[str]) -> list[dict[str, Any]]:
        """One result per reference, in the API's shape ({reference, status, reason, code})."""
        body = json.dumps({"references": references}).encode()
        headers = {"x-functions-key": self._key, "Content-Type": "application/json"}
        last, code = "", "transient"
        for attempt in range(1, self._attempts + 1):
            try:
                answer = self._session.post(
                    self.endpoint, data=body, headers=headers, timeout=self._timeout
                )
            except requests.RequestException as exc:
                last = f"cannot reach the sign endpoint: {type(exc).__name__}"
            else:
                if answer.status_code in (401, 403):
                    raise ConfigurationError(
                        f"the sign endpoint refused the function key (HTTP {answer.status_code})"
                    )
                results = _results(answer)
                retryable = answer.status_code >= 500  # 503: a transient failure, retry
                if results is not None and (not retryable or attempt == self._attempts):
                    return results
                last = _describe(answer, results)
                if not retryable:
                    code = "http_error"
                    break
            if attempt < self._attempts:
                self._sleep(float(2**attempt))
        return [
            {"reference": r, "status": "failed", "reason": last, "code": code} for r in references
        ]


def _results(answer: requests.Response) -> list[dict[str, Any]] | None:
    try:
        document = answer.json()
    except ValueError:
        return None
    results = document.get("results") if isinstance(document, dict) else None
    return results if isinstance(results, list) else None


def _describe(answer: requests.Response, results: list[dict[str, Any]] | None) -> str:
    if results:
        reasons = {str(r.get("reason", "")) for r in results if r.get("status") == "failed"}
        return f"HTTP {answer.status_code}: {'; '.join(sorted(reasons))[:300]}"
    try:
        error = answer.json().get("error", {})
        return f"HTTP {answer.status_code}: {error.get('message', '')}"[:300]
    except (ValueError, AttributeError):
        return f"HTTP {answer.status_code}"


def batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------


def replay(
    source: BlobSource,
    client: SignClient | None,
    registry: str,
    *,
    prefix: str | None = None,
    batch_size: int = MAX_BATCH,
    delete_replayed: bool = False,
) -> Report:
    """Read every blob, sign what can be (``client`` None: a dry run), report everything."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ConfigurationError(f"the batch size must be 1 to {MAX_BATCH}, got {batch_size}")
    report = Report()
    by_reference, blobs = _collect(source, registry, prefix, report)
    if client is None:
        for outcome in by_reference.values():
            outcome.status = "not sent (dry run)"
    else:
        _sign(client, by_reference, batch_size)
    report.outcomes = list(by_reference.values())
    if delete_replayed and client is not None:
        done = {o.reference for o in report.outcomes if o.status in ("signed", "skipped")}
        for name, refs in blobs.items():
            if refs and set(refs) <= done:
                source.delete(name)
                report.deleted.append(name)
    return report


def _collect(
    source: BlobSource, registry: str, prefix: str | None, report: Report
) -> tuple[dict[str, Outcome], dict[str, list[str]]]:
    """Each reference once (with the blobs naming it), and for each blob that holds nothing
    but pushes to replay, its references (the only blobs --delete-replayed may remove)."""
    by_reference: dict[str, Outcome] = {}
    blobs: dict[str, list[str]] = {}
    for name in sorted(source.list_blob_names(prefix)):
        try:
            raw = source.read(name)
        except Exception as exc:  # one unreadable blob must not end the run
            report.skipped.append(Skipped(name, "", f"cannot download: {type(exc).__name__}", True))
            continue
        replayable, skipped = read_blob(name, raw, registry)
        report.skipped.extend(skipped)
        if not skipped:
            blobs[name] = [r.reference for r in replayable]
        for item in replayable:
            outcome = by_reference.setdefault(item.reference, Outcome(item.reference, "pending"))
            if name not in outcome.blobs:
                outcome.blobs.append(name)
    return by_reference, blobs


def _sign(client: SignClient, by_reference: dict[str, Outcome], batch_size: int) -> None:
    for batch in batches(list(by_reference), batch_size):
        for result in client.sign(batch):
            found = by_reference.get(str(result.get("reference")))
            if found is None:  # e.g. an index child the signer signed as well
                continue
            found.status = str(result.get("status", "failed"))
            found.reason = str(result.get("reason", ""))
            found.code = str(result.get("code", ""))
    for outcome in by_reference.values():
        if outcome.status == "pending":
            outcome.status, outcome.reason = "failed", "no result for this reference"


def print_report(report: Report, out: Any = None) -> None:
    out = out or sys.stdout
    for outcome in report.outcomes:
        detail = f" ({outcome.code}: {outcome.reason})" if outcome.reason else ""
        print(f"{outcome.status:8} {outcome.reference}{detail}", file=out)
    for item in report.skipped:
        kind = "UNREADABLE" if item.unreadable else "not ours"
        where = f" {item.event_id}" if item.event_id else ""
        print(f"{kind:8} {item.blob}{where}: {item.reason}", file=out)
    for name in report.deleted:
        print(f"deleted  {name}", file=out)
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
    print(f"replayed: {summary}; not replayed: {len(report.skipped)}", file=out)


# ---------------------------------------------------------------------------------
# Storage and command line
# ---------------------------------------------------------------------------------


class ContainerSource:
    """A dead-letter container through azure-storage-blob."""

    def __init__(self, container: Any) -> None:
        self._container = container

    @classmethod
    def open(
        cls, container: str, *, account_url: str | None, connection_string: str | None
    ) -> ContainerSource:
        from azure.storage.blob import BlobServiceClient  # noqa: PLC0415 - only when run

        if connection_string:
            service = BlobServiceClient.from_connection_string(connection_string)
        elif account_url:
            from azure.identity import DefaultAzureCredential  # noqa: PLC0415

            service = BlobServiceClient(account_url, credential=DefaultAzureCredential())
        else:
            raise ConfigurationError(
                "give --blob-endpoint (azd: STORAGE_BLOB_ENDPOINT) or a connection string"
            )
        return cls(service.get_container_client(container))

    def list_blob_names(self, prefix: str | None) -> Iterable[str]:
        return list(self._container.list_blob_names(name_starts_with=prefix))

    def read(self, name: str) -> bytes:
        return bytes(self._container.download_blob(name).readall())

    def delete(self, name: str) -> None:
        self._container.delete_blob(name)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--blob-endpoint",
        default=env.get("STORAGE_BLOB_ENDPOINT"),
        help="the storage account's blob endpoint (azd: STORAGE_BLOB_ENDPOINT)",
    )
    parser.add_argument(
        "--container", default=env.get("DEAD_LETTER_CONTAINER", "eventgrid-deadletter")
    )
    parser.add_argument(
        "--connection-string-env",
        metavar="NAME",
        help="read a storage connection string from this variable (Azurite)",
    )
    parser.add_argument("--prefix", help="only blobs whose names start with this")
    parser.add_argument(
        "--sign-endpoint",
        default=env.get("SIGN_ENDPOINT"),
        help="https://<app>.azurewebsites.net/api/sign (azd: SIGN_ENDPOINT)",
    )
    parser.add_argument(
        "--registry",
        default=env.get("SIGNER_REGISTRY"),
        help="the registry this signer serves (azd: SIGNER_REGISTRY)",
    )
    parser.add_argument(
        "--function-key-env",
        default="SIGNER_FUNCTION_KEY",
        metavar="NAME",
        help="the environment variable holding the function key",
    )
    parser.add_argument("--batch-size", type=int, default=MAX_BATCH)
    parser.add_argument("--dry-run", action="store_true", help="list what would be sent")
    parser.add_argument(
        "--delete-replayed",
        action="store_true",
        help="delete a blob once every push in it is signed or skipped",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        if not args.registry:
            raise ConfigurationError("give --registry (azd: SIGNER_REGISTRY)")
        connection = (
            os.environ.get(args.connection_string_env) if args.connection_string_env else None
        )
        source = ContainerSource.open(
            args.container, account_url=args.blob_endpoint, connection_string=connection
        )
        client = None
        if not args.dry_run:
            if not args.sign_endpoint:
                raise ConfigurationError("give --sign-endpoint (azd: SIGN_ENDPOINT)")
            key = os.environ.get(args.function_key_env, "")
            if not key:
                raise ConfigurationError(
                    f"set {args.function_key_env} to a function key of the app "
                    "(az functionapp keys list ... --query functionKeys.default -o tsv)"
                )
            client = SignClient(args.sign_endpoint, key)
        report = replay(
            source,
            client,
            args.registry,
            prefix=args.prefix,
            batch_size=args.batch_size,
            delete_replayed=args.delete_replayed,
        )
    except SignerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # storage or network: a message, not a traceback
        print(f"Error: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
