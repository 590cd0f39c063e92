"""``python -m signer``: sign, verify and inspect, with notation-like flags.

Credentials come from flags or the environment (SIGNER_REGISTRY_USERNAME /
SIGNER_REGISTRY_PASSWORD), never from a prompt. Every error is one line on
stderr and a non-zero exit: 1 for a failed signature or verification, 2 for bad
usage or configuration, 3 for a transient failure worth retrying.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, NoReturn, TextIO

from azure.core.credentials import TokenCredential

from signer.connect import (
    AuthMode,
    RegistryOptions,
    SignerOptions,
    open_registry,
    open_signer,
    open_timestamper,
)
from signer.credentials import build_credential
from signer.errors import (
    ConfigurationError,
    InvalidReferenceError,
    SignerError,
    TransientError,
)
from signer.models import Descriptor, Failed, Signed, SignRequest
from signer.options import check_metadata, parse_duration
from signer.reference import Reference
from signer.registry import Registry, RegistryClient
from signer.service import SigningService
from signer.signatures import fetch_signatures, verify_reference
from signer.signers.base import Signer
from signer.verifier import (
    SignatureSummary,
    TimestampSignatureSummary,
    TrustPolicyDocument,
    Verifier,
    inspect_signature,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TRANSIENT = 0, 1, 2, 3


def _metadata_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not key=value")
    try:
        check_metadata({key: value}, "--user-metadata")
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return key, value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: give seconds between 0 and 3600")
    return value


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit 2, like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see {self.prog} --help)")


def _registry_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry")
    group.add_argument(
        "--insecure-registry", action="store_true", help="use plain http (local registries only)"
    )
    group.add_argument(
        "--registry-auth",
        choices=("entra", "basic", "anonymous"),
        help="default: entra for *.azurecr.io, basic when a username is given, else anonymous",
    )
    group.add_argument("--username", help="or SIGNER_REGISTRY_USERNAME")
    group.add_argument("--password", help="or SIGNER_REGISTRY_PASSWORD (prefer the variable)")
    group.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per request (10)")
    group.add_argument(
        "--managed-identity-client-id", help="user-assigned identity for Key Vault and ACR"
    )
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m signer",
        description="Notary Project COSE signatures for OCI artifacts, pushed as referrers.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sign = commands.add_parser("sign", help="sign artifacts and push the signatures")
    sign.add_argument(
        "references", nargs="*", metavar="REFERENCE", help="registry/repo:tag|@digest"
    )
    sign.add_argument("--references-file", help="file with one reference per line ('-' = stdin)")
    keys = sign.add_argument_group("signing key (a local key and chain, or a Key Vault key)")
    keys.add_argument("--key", type=Path, help="PEM private key (local development)")
    keys.add_argument("--cert", type=Path, help="PEM certificate chain, leaf first")
    keys.add_argument("--key-id", help="Key Vault key id https://<vault>/keys/<name>[/<version>]")
    source = keys.add_mutually_exclusive_group()
    source.add_argument(
        "--self-signed",
        action="store_true",
        help="chain = the vault certificate alone (default without a flag: self-signed alone, "
        "a CA-issued certificate's chain from its secret, as notation-azure-kv)",
    )
    source.add_argument("--ca-certs", type=Path, help="PEM bundle of intermediates and root")
    source.add_argument(
        "--chain-from-secret", action="store_true", help="chain from the certificate's secret"
    )
    stamp = sign.add_argument_group("timestamping (RFC 3161; notation's flags, both or neither)")
    stamp.add_argument("--timestamp-url", help="RFC 3161 Timestamping Authority (TSA) server URL")
    stamp.add_argument(
        "--timestamp-root-cert", type=Path, help="file path of the TSA's root certificate (PEM)"
    )
    sign.add_argument("--expiry", help="signature lifetime, e.g. 8760h or 90d")
    sign.add_argument(
        "--user-metadata", "-m", action="append", type=_metadata_pair, default=[], metavar="K=V"
    )
    sign.add_argument("--force", action="store_true", help="sign even if already signed")
    _registry_flags(sign)

    verify = commands.add_parser("verify", help="verify an artifact's signatures")
    verify.add_argument("reference", metavar="REFERENCE")
    verify.add_argument(
        "--trust-policy", type=Path, required=True, help="notation trustpolicy.json"
    )
    verify.add_argument("--trust-store", type=Path, required=True, help="dir with x509/ca/<name>/")
    verify.add_argument(
        "--user-metadata", "-m", action="append", type=_metadata_pair, default=[], metavar="K=V"
    )
    _registry_flags(verify)

    inspect = commands.add_parser("inspect", help="list an artifact's signatures")
    inspect.add_argument("reference", metavar="REFERENCE")
    _registry_flags(inspect)
    return parser


@dataclass
class _Context:
    args: argparse.Namespace
    out: TextIO
    err: TextIO

    @property
    def json(self) -> bool:
        return bool(self.args.output == "json")

    def credential(self) -> Callable[[], TokenCredential]:
        client_id = self.args.managed_identity_client_id
        return cache(lambda: build_credential(client_id))

    def registry(self, ref: Reference) -> RegistryClient:
        username = self.args.username or os.environ.get("SIGNER_REGISTRY_USERNAME")
        password = self.args.password or os.environ.get("SIGNER_REGISTRY_PASSWORD")
        auth: AuthMode = self.args.registry_auth or (
            "entra"
            if ref.registry.endswith(".azurecr.io")
            else ("basic" if username else "anonymous")
        )
        options = RegistryOptions(
            ref.registry,
            auth=auth,
            username=username,
            password=password,
            insecure=self.args.insecure_registry,
            timeout=self.args.timeout,
        )
        return open_registry(options, self.credential())

    def emit(self, data: Any, text: str) -> None:
        print(json.dumps(data, indent=2) if self.json else text, file=self.out)


def _references(args: argparse.Namespace) -> list[Reference]:
    texts = list(args.references)
    if args.references_file:
        stream = (
            sys.stdin
            if args.references_file == "-"
            else open(args.references_file, encoding="utf-8")  # noqa: SIM115
        )
        try:
            with stream:
                lines = list(stream)
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"--references-file {args.references_file}: not UTF-8 text"
            ) from None
        texts += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not texts:
        raise ConfigurationError("give at least one REFERENCE (or --references-file)")
    refs = [Reference.parse(t) for t in texts]
    if len({r.registry for r in refs}) > 1:
        raise ConfigurationError("all references of one run must be in the same registry")
    return refs


def _open_signer(ctx: _Context) -> Signer:
    args = ctx.args
    if args.key_id and (args.key or args.cert):
        raise ConfigurationError("give either --key-id or --key/--cert, not both")
    if not args.key_id and not (args.key and args.cert):
        raise ConfigurationError("give --key and --cert (local key) or --key-id (Key Vault)")
    chain_source = (
        "ca-bundle"
        if args.ca_certs
        else "secret"
        if args.chain_from_secret
        else "certificate"
        if args.self_signed
        else "auto"
    )
    return open_signer(
        SignerOptions(
            local_key=args.key,
            local_chain=args.cert,
            key_id=args.key_id,
            chain_source=chain_source,
            ca_bundle=args.ca_certs,
        ),
        ctx.credential(),
    )


def _sign_one(service: SigningService, ref: Reference, request: SignRequest) -> _Line:
    """One reference's result (JSON form and one text line); errors become results."""
    try:
        outcome = service.sign(request)[0]
    except SignerError as exc:  # transient: raised so that a caller can try again
        result: dict[str, Any] = {"reference": str(ref), "status": "failed", "reason": str(exc)}
        return _Line(result, f"failed   {ref}: {exc}", isinstance(exc, TransientError))
    if isinstance(outcome, Failed):
        result = {"reference": str(ref), "status": "failed", "reason": outcome.detail}
        return _Line(result, f"failed   {ref}: {outcome.detail}", outcome.transient)
    if isinstance(outcome, Signed):
        result = {
            "reference": str(ref),
            "status": "signed",
            "digest": outcome.subject.digest,
            "signatureDigest": outcome.signature.digest,
            "referrersApi": outcome.referrers_api,
        }
        text = (
            f"signed   {ref.registry}/{ref.repository}@{outcome.subject.digest} "
            f"-> signature {outcome.signature.digest}"
        )
        if outcome.timestamp is not None:
            stamp = outcome.timestamp
            result["timestamp"] = {"time": stamp.time_text, "authority": stamp.authority}
            text += f", timestamped {stamp.time_text} by {_printable(stamp.authority)}"
        return _Line(result, text)
    result = {
        "reference": str(ref),
        "status": "skipped",
        "reason": outcome.reason,
        "detail": outcome.detail,
    }
    return _Line(result, f"skipped  {ref}: {outcome.detail}")


@dataclass(frozen=True)
class _Line:
    result: dict[str, Any]
    text: str
    transient: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.result["status"] == "failed")


def _sign_reported(
    ctx: _Context,
    service: SigningService,
    ref: Reference,
    *,
    position: tuple[int, int],
    expiry: timedelta | None,
) -> _Line:
    n, total = position
    args = ctx.args
    request = SignRequest(
        registry=ref.registry,
        repository=ref.repository,
        reference=ref.target,
        tag=ref.tag,
        expiry=expiry,
        user_metadata=dict(args.user_metadata),
        force=args.force,
    )
    line = _sign_one(service, ref, request)
    if total > 1:
        print(f"[{n}/{total}] {line.text}", file=ctx.err, flush=True)
    elif line.failed:
        hint = " (transient: try again)" if line.transient else ""
        print(f"Error: {line.result['reason']}{hint}", file=ctx.err)
    elif not ctx.json:
        print(line.text, file=ctx.out)
    return line


def _sign(ctx: _Context) -> int:
    args = ctx.args
    refs = _references(args)
    expiry = parse_duration(args.expiry, "--expiry") if args.expiry else None
    signer = _open_signer(ctx)
    timestamper = open_timestamper(args.timestamp_url, args.timestamp_root_cert)
    lines: list[_Line] = []
    with ctx.registry(refs[0]) as client:
        service = SigningService(registry=client, signer=signer, timestamper=timestamper)
        try:
            for n, ref in enumerate(refs, 1):
                lines.append(
                    _sign_reported(ctx, service, ref, position=(n, len(refs)), expiry=expiry)
                )
        finally:
            service.close()
    results = [line.result for line in lines]
    failed = [line for line in lines if line.failed]
    if ctx.json:
        ctx.emit(results if len(refs) > 1 else results[0], "")
    elif len(refs) > 1:
        signed = sum(r["status"] == "signed" for r in results)
        skipped = sum(r["status"] == "skipped" for r in results)
        print(f"{signed} signed, {skipped} skipped, {len(failed)} failed", file=ctx.out)
    if failed and all(line.transient for line in failed):
        return EXIT_TRANSIENT
    return EXIT_FAILED if failed else EXIT_OK


def _printable(text: object) -> str:
    """Signature content is someone else's text: no control characters reach the terminal."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in str(text))


def _verify(ctx: _Context) -> int:
    args = ctx.args
    ref = Reference.parse(args.reference)
    verifier = Verifier(TrustPolicyDocument.load(args.trust_policy), args.trust_store)
    with ctx.registry(ref) as client:
        subject, result = verify_reference(client, ref, verifier, dict(args.user_metadata))
    shown = f"{ref.registry}/{ref.repository}@{subject.digest}"
    data = {
        "reference": shown,
        "status": result.status,
        "verified": result.verified,
        "policy": result.policy,
        "level": result.level,
        "signatures": [
            {
                "digest": digest,
                "status": outcome.status,
                "verified": outcome.verified,
                "error": outcome.error,
                "warnings": list(outcome.warnings),
            }
            for digest, outcome in zip(result.manifest_digests, result.outcomes, strict=True)
        ],
    }
    if result.status == "skipped":  # notation's wording; nothing was verified
        ctx.emit(data, f"Trust policy is configured to skip signature verification for {shown}")
        return EXIT_OK
    if result.status == "verified":
        ctx.emit(data, f"Successfully verified signature for {shown}")
        return EXIT_OK
    if ctx.json:
        ctx.emit(data, "")
    reasons = "; ".join(o.error for o in result.outcomes if o.error)
    message = f"Error: {result.error}" + (f" ({reasons})" if reasons else "")
    print(_printable(message), file=ctx.err)
    return EXIT_FAILED


def _summaries(
    client: Registry, ref: Reference, subject: Descriptor
) -> list[tuple[str, SignatureSummary]]:
    """One summary per signature, each blob dropped once summarised."""
    out = []
    for fetched in fetch_signatures(client, ref.repository, subject):
        if fetched.error is not None:
            summary = SignatureSummary(
                media_type=fetched.media_type or "unknown", digest=None, error=fetched.error
            )
        else:
            summary = inspect_signature(fetched.envelope, fetched.media_type)
        out.append((fetched.manifest.digest, summary))
    return out


def _timestamp_lines(stamp: TimestampSignatureSummary) -> list[str]:
    """The countersignature as read (notation inspect's "timestamp signature"), unverified."""
    lines = ["    timestamp signature (read, not verified):"]
    if stamp.error is not None:
        return [*lines, f"        invalid: {_printable(stamp.error)}"]
    accuracy = "none" if stamp.accuracy is None else f"{stamp.accuracy.total_seconds():g}s"
    lines.append(f"        timestamp: [{stamp.earliest}, {stamp.latest}]")
    lines.append(f"        genTime: {stamp.time} (accuracy {accuracy}, policy {stamp.policy})")
    lines.append(
        f"        signed by: {_printable(stamp.tsa_subject or '(not named in the token)')}"
    )
    for cert in stamp.certificates:
        lines.append(f"        certificate: {_printable(cert.subject)}")
        lines.append(f"            sha256 thumbprint: {cert.sha256}")
        lines.append(f"            valid: {cert.not_before} to {cert.not_after}")
    return lines


def _inspect(ctx: _Context) -> int:
    ref = Reference.parse(ctx.args.reference)
    with ctx.registry(ref) as client:
        subject = client.resolve(ref.repository, ref.target).descriptor
        summaries = _summaries(client, ref, subject)
    lines = [f"{ref.registry}/{ref.repository}@{subject.digest}"]
    if not summaries:
        lines.append("└── no signatures")
    for digest, summary in summaries:
        lines.append(f"└── {digest}  ({_printable(summary.media_type)})")
        if summary.error:
            lines.append(f"    invalid envelope: {_printable(summary.error)}")
        lines.append(f"    signature algorithm: {summary.algorithm}")
        lines.append(f"    signing time: {summary.signing_time}")
        if summary.expiry:
            lines.append(f"    expiry: {summary.expiry}")
        lines.append(f"    signing agent: {_printable(summary.signing_agent)}")
        for key, value in summary.user_metadata.items():
            lines.append(f"    user metadata: {_printable(key)}={_printable(value)}")
        for cert in summary.certificates:
            lines.append(f"    certificate: {_printable(cert.subject)}")
            lines.append(f"        sha256 thumbprint: {cert.sha256}")
        if summary.timestamp is not None:
            lines.extend(_timestamp_lines(summary.timestamp))
    data = {
        "subject": subject.to_json(),
        "signatures": [{"manifestDigest": d, **s.to_json()} for d, s in summaries],
    }
    ctx.emit(data, "\n".join(lines))
    return EXIT_OK


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(f"Error: {exc}", file=err)
        return EXIT_USAGE
    ctx = _Context(args, out, err)
    command = {"sign": _sign, "verify": _verify, "inspect": _inspect}[args.command]
    try:
        return command(ctx)
    except (ConfigurationError, InvalidReferenceError) as exc:
        print(f"Error: {exc}", file=err)
        return EXIT_USAGE
    except TransientError as exc:
        print(f"Error: {exc} (transient: try again)", file=err)
        return EXIT_TRANSIENT
    except SignerError as exc:
        print(f"Error: {exc}", file=err)
        return EXIT_FAILED
    except OSError as exc:
        print(f"Error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=err)
        return EXIT_USAGE
