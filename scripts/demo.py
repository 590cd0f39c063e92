"""``make demo``: the whole flow on this machine, with embedded defaults.

Starts Debian's docker-registry on 127.0.0.1:5000 and Azurite on its default
ports (reusing either if it already runs), makes a development signing
certificate, pushes a small sample image, delivers an ImagePushed event for it to
the function, verifies the new signature with the project's verifier and prints
a summary. The event goes through Functions Core Tools' local Event Grid webhook
when ``func`` is installed (``--in-process`` forces the other path), otherwise
the same handler is invoked in-process through the host's own event converter.
What it started, it stops (``--keep`` leaves it running; ``make stop`` stops it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scripts import services
from scripts.devcert import ensure_dev_certificate
from scripts.sample_events import push_event
from shared.ledger import partition_key

ROOT = services.ROOT
REPOSITORY = "demo/hello-signer"
FUNC_PORT = 7071


def local_settings() -> dict[str, str]:
    """local.settings.json's values, creating the file from the sample when missing."""
    path = ROOT / "local.settings.json"
    if not path.exists():
        shutil.copyfile(ROOT / "local.settings.sample.json", path)
        print("created local.settings.json from local.settings.sample.json")
    values = json.loads(path.read_text())["Values"]
    return {k: str(v) for k, v in values.items()}


def push_sample_image() -> tuple[str, str, int]:
    """A tiny OCI image whose layer names this run, so every run signs a new digest."""
    from signer.connect import RegistryOptions, open_registry  # noqa: PLC0415
    from tests.servers.images import ImagePusher  # noqa: PLC0415

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    image = ImagePusher(f"http://{services.REGISTRY_HOST}").push_image(
        REPOSITORY, "latest", layer_text=f"hello from acr-notary-signer, {stamp}\n"
    )
    with open_registry(
        RegistryOptions(services.REGISTRY_HOST, insecure=True), _no_credential
    ) as client:
        resolved = client.resolve(REPOSITORY, "latest").descriptor
    assert resolved.digest == image.digest
    return image.digest, "latest", image.size


def _no_credential() -> Any:
    raise RuntimeError("the demo registry is anonymous")


def deliver_in_process(event: dict[str, Any]) -> None:
    from azure.functions import meta  # noqa: PLC0415
    from azure.functions.eventgrid import EventGridEventInConverter  # noqa: PLC0415

    import function_app  # noqa: PLC0415

    handler = function_app.on_image_pushed.build().get_user_function()
    decoded = EventGridEventInConverter.decode(
        meta.Datum(json.dumps(event), "json"), trigger_metadata=None
    )
    handler(decoded)


def _func_ready() -> bool:
    try:
        url = f"http://localhost:{FUNC_PORT}/admin/host/status"
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(json.loads(answer.read()).get("state") == "Running")
    except (OSError, ValueError):
        return False


def deliver_through_func(event: dict[str, Any], env: dict[str, str]) -> None:
    func = shutil.which("func")
    assert func is not None
    if not _func_ready():
        log = services.DEV / "func.log"
        print(f"starting Functions Core Tools (func start), log: {log}")
        env = {**os.environ, **env, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
        services.RUN.mkdir(parents=True, exist_ok=True)
        import subprocess  # noqa: PLC0415

        with log.open("ab") as out:
            proc = subprocess.Popen(
                [func, "start", "--port", str(FUNC_PORT)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (services.RUN / "func.pid").write_text(str(proc.pid))
        deadline = time.monotonic() + 120
        while not _func_ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise services.ServiceError(f"func start failed; see {log}")
            time.sleep(0.5)
    request = urllib.request.Request(
        f"http://localhost:{FUNC_PORT}/runtime/webhooks/EventGrid?functionName=on_image_pushed",
        data=json.dumps([event]).encode(),
        headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        if answer.status >= 300:
            raise services.ServiceError(f"the function host answered {answer.status}")


def wait_for_ledger(digest: str, timeout: float = 60) -> list[dict[str, Any]]:
    from shared import runtime  # noqa: PLC0415

    ledger = runtime.handlers().ledger
    deadline = time.monotonic() + timeout
    while True:
        rows = ledger.history(digest)
        if rows and rows[0]["status"] != "signing":
            return rows
        if time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def verify(digest: str, dev: dict[str, Path]) -> tuple[bool, str]:
    from signer.connect import RegistryOptions, open_registry  # noqa: PLC0415
    from signer.reference import Reference  # noqa: PLC0415
    from signer.signatures import verify_reference  # noqa: PLC0415
    from signer.verifier import TrustPolicyDocument, Verifier  # noqa: PLC0415

    verifier = Verifier(TrustPolicyDocument.load(dev["trustpolicy"]), dev["truststore"])
    ref = Reference(services.REGISTRY_HOST, REPOSITORY, digest=digest)
    with open_registry(
        RegistryOptions(services.REGISTRY_HOST, insecure=True), _no_credential
    ) as client:
        _, result = verify_reference(client, ref, verifier)
    if result.verified and result.accepted is not None:
        return True, f"verified (policy {result.policy!r}, level {result.level})"
    return False, result.error or "not verified"


def run(in_process: bool, keep: bool) -> int:
    os.chdir(ROOT)
    logging.basicConfig(level=logging.INFO, format="  log      %(message)s", stream=sys.stdout)
    for noisy in ("azure", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = []
    try:
        started.append(services.start_registry())
        started.append(services.start_azurite())
        dev = ensure_dev_certificate(services.DEV)
        env = local_settings()
        os.environ.update({k: v for k, v in env.items() if v})
        digest, tag, size = push_sample_image()
        print(f"pushed   {services.REGISTRY_HOST}/{REPOSITORY}:{tag} ({digest})")
        event = push_event(services.REGISTRY_HOST, REPOSITORY, digest, tag=tag, size=size)
        via_func = shutil.which("func") is not None and not in_process
        if via_func:
            deliver_through_func(event, env)
            how = "Functions Core Tools' Event Grid webhook (func start)"
        else:
            deliver_in_process(event)
            how = "the on_image_pushed handler in-process (func not installed)"
        rows = wait_for_ledger(digest)
        ok, verdict = verify(digest, dev)
        _summary(
            digest=digest, tag=tag, how=how, rows=rows, ok=ok, verdict=verdict, dev=dev, env=env
        )
        return 0 if ok else 1
    finally:
        if keep:
            print("services left running; `make stop` stops them")
        else:
            stopped = [s.name for s in started if s.started_here and services.stop(s.name)]
            stopped += ["func"] if services.stop("func") else []
            if stopped:
                print(f"stopped  {', '.join(stopped)}")


def _summary(
    *,
    digest: str,
    tag: str,
    how: str,
    rows: list[dict[str, Any]],
    ok: bool,
    verdict: str,
    dev: dict[str, Path],
    env: dict[str, str],
) -> None:
    row = rows[0] if rows else {}
    table = env.get("SIGNER_LEDGER_TABLE", "signingledger")
    print()
    print("── acr-notary-signer demo " + "─" * 40)
    print(f"  image        {services.REGISTRY_HOST}/{REPOSITORY}:{tag}")
    print(f"  digest       {digest}")
    print(f"  delivered    {how}")
    print(f"  outcome      {row.get('status', 'no ledger row')}  {row.get('reason', '')}".rstrip())
    print(f"  signature    {row.get('signatureDigest') or '-'}")
    print(f"  certificate  sha256 {row.get('certificateThumbprint') or '-'}")
    print(f"  verification {'OK: ' if ok else 'FAILED: '}{verdict}")
    print(
        f"  ledger row   Azurite table {table!r}, PartitionKey {partition_key(digest)!r}, "
        f"RowKey {row.get('attemptId', row.get('RowKey', '?'))!r}"
    )
    print(f"  trust policy {dev['trustpolicy']}  (trust store {dev['truststore']})")
    print("─" * 66)


def main() -> None:
    parser = argparse.ArgumentParser(description="Sign a sample image end to end, locally.")
    parser.add_argument("--in-process", action="store_true", help="do not use func even if found")
    parser.add_argument("--keep", action="store_true", help="leave the services running")
    parser.add_argument("--stop", action="store_true", help="stop what an earlier --keep left")
    args = parser.parse_args()
    if args.stop:
        stopped = services.stop_all()
        print(f"stopped {', '.join(stopped)}" if stopped else "nothing to stop")
        return
    try:
        sys.exit(run(args.in_process, args.keep))
    except services.ServiceError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
