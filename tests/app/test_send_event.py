"""scripts.send_event against a stand-in for Core Tools' local Event Grid webhook.

The stand-in does what the host does with the request (400 without the
``aeg-event-type`` header; Event Grid arrays or one CloudEvent decoded by the
host's converter) and calls the real on_image_pushed function.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from tests.plugins.app import ON_IMAGE_PUSHED, SignerApp

ROOT = Path(__file__).resolve().parents[2]


class _Webhook(BaseHTTPRequestHandler):
    received: list[Any]

    def do_POST(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path != "/runtime/webhooks/EventGrid" or query.get("functionName") != [
            "on_image_pushed"
        ]:
            self.send_error(404)
            return
        if self.headers.get("aeg-event-type") != "Notification":
            self.send_error(400, "missing aeg-event-type")
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        events = body if isinstance(body, list) else [body]
        for event in events:
            self.received.append(event)
            decoded = EventGridEventInConverter.decode(
                meta.Datum(json.dumps(event), "json"), trigger_metadata=None
            )
            ON_IMAGE_PUSHED(decoded)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Any]]]:
    received: list[Any] = []
    handler = type("Webhook", (_Webhook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("schema", ["eventgrid", "cloudevents"])
def test_send_event_signs_through_the_webhook(
    make_app: Callable[..., SignerApp],
    repository_name: str,
    webhook: tuple[str, list[Any]],
    schema: str,
) -> None:
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    url, received = webhook
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.send_event",
            f"{app.registry_host}/{repository_name}:v1",
            "--url",
            url,
            "--schema",
            schema,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # the subprocess only sends; signing happens here, in the stand-in host
    assert result.returncode == 0, result.stderr
    assert "host answered 202" in result.stdout
    [event] = received
    data = event["data"]
    assert data["target"]["digest"] == image.digest
    assert data["target"]["size"] == image.size
    assert ("specversion" in event) is (schema == "cloudevents")
    assert app.verify(repository_name, image.digest).verified


def test_send_event_reports_unreachable_host(
    make_app: Callable[..., SignerApp], repository_name: str
) -> None:
    app = make_app()
    app.pusher.push_image(repository_name, "v1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.send_event",
            f"{app.registry_host}/{repository_name}:v1",
            "--url",
            "http://127.0.0.1:9",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3
    assert "cannot reach the function host" in result.stderr
