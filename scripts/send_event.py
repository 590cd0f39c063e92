"""Send a sample ACR push event to a running local function host (``func start``).

    python -m scripts.send_event 127.0.0.1:5000/demo/hello-signer:latest
    python -m scripts.send_event 127.0.0.1:5000/demo/app@sha256:... --schema cloudevents

The digest and size come from the registry (``--insecure-registry`` is implied for
loopback registries), so the event is what ACR would send for that push. It goes
to Core Tools' local Event Grid webhook:
``POST /runtime/webhooks/EventGrid?functionName=on_image_pushed`` with the header
``aeg-event-type: Notification``.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from scripts.sample_events import IMAGE_PUSHED, push_event
from signer.connect import RegistryOptions, open_registry
from signer.errors import SignerError
from signer.reference import Reference

CHART_PUSHED = "Microsoft.ContainerRegistry.ChartPushed"


def _no_credential() -> Any:
    raise SignerError("send_event reads the registry anonymously")


def build(args: argparse.Namespace) -> dict[str, Any]:
    ref = Reference.parse(args.reference)
    insecure = args.insecure_registry or ref.registry.startswith(("127.", "localhost"))
    with open_registry(RegistryOptions(ref.registry, insecure=insecure), _no_credential) as client:
        subject = client.resolve(ref.repository, ref.target).descriptor
    return push_event(
        ref.registry,
        ref.repository,
        subject.digest,
        tag=ref.tag,
        media_type=subject.media_type,
        size=subject.size,
        event_type=CHART_PUSHED if args.chart else IMAGE_PUSHED,
        cloudevents=args.schema == "cloudevents",
    )


def send(url: str, event: dict[str, Any], schema: str) -> int:
    body = [event] if schema == "eventgrid" else event
    request = urllib.request.Request(  # noqa: S310 - the user's local host URL
        f"{url.rstrip('/')}/runtime/webhooks/EventGrid?functionName=on_image_pushed",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("reference", help="registry/repository:tag or @digest, already pushed")
    parser.add_argument("--url", default="http://localhost:7071", help="function host base URL")
    parser.add_argument("--schema", choices=("eventgrid", "cloudevents"), default="eventgrid")
    parser.add_argument("--chart", action="store_true", help="send ChartPushed, not ImagePushed")
    parser.add_argument("--insecure-registry", action="store_true")
    parser.add_argument("--print", action="store_true", help="print the event, do not send it")
    args = parser.parse_args()
    try:
        event = build(args)
    except SignerError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
    if args.print:
        print(json.dumps(event, indent=2))
        return
    try:
        status = send(args.url, event, args.schema)
    except OSError as exc:
        print(f"Error: cannot reach the function host at {args.url}: {exc}", file=sys.stderr)
        sys.exit(3)
    print(f"sent {event['id']} for {event['data']['target']['digest']}: host answered {status}")
    sys.exit(0 if status < 300 else 1)


if __name__ == "__main__":
    main()
