"""Outcome events: the real Event Grid SDK posting to a local HTTPS topic endpoint.

The token comes from the local managed-identity endpoint (``msi_server``) through the
real ``ManagedIdentityCredential``; the topic checks it was issued for Event Grid.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.identity import ManagedIdentityCredential

from scripts.sample_events import push_event
from shared.outcomes import (
    EventGridOutcomePublisher,
    NullPublisher,
    Publisher,
    outcome_publisher,
)
from tests.servers.loopback import BackgroundServer, LoopbackHTTPServer, server_tls_context
from tests.servers.msi import ManagedIdentityServer

EVENTGRID_RESOURCE = "https://eventgrid.azure.net"
DIGEST = "sha256:" + "ab" * 32
SIG = "sha256:" + "cd" * 32


@dataclass
class Recorded:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Topic:
    endpoint: str
    ca_file: Path
    status: int = 200
    requests: list[Recorded] = field(default_factory=list)


@pytest.fixture
def topic(tmp_path: Path, msi_server: ManagedIdentityServer) -> Iterator[Topic]:
    """An HTTPS Event Grid topic that records each publish and checks the bearer token."""
    state = Topic(endpoint="", ca_file=tmp_path / "topic-ca.pem")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(
                Recorded(url.path, parse_qs(url.query), dict(self.headers), json.loads(body))
            )
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            status = state.status if msi_server.is_valid(token, EVENTGRID_RESOURCE) else 401
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class TopicServer(BackgroundServer):
        thread_name = "eventgrid-topic"

        def make_server(self) -> LoopbackHTTPServer:
            context = server_tls_context(tmp_path, state.ca_file)
            return LoopbackHTTPServer(Handler, context=context)

    with TopicServer() as server:
        state.endpoint = f"https://{server.host}/api/events"
        yield state


def _publisher(topic: Topic) -> Publisher:
    return outcome_publisher(
        topic.endpoint, ManagedIdentityCredential(), connection_verify=str(topic.ca_file)
    )


FIELDS = {
    "registry": "example.azurecr.io",
    "repository": "team/app",
    "tag": "v1",
    "digest": DIGEST,
    "signatureDigest": SIG,
    "reason": "",
    "certificateThumbprint": "ff" * 32,
    "timestampTime": "2026-12-01T10:00:00Z",
    "timestampAuthority": "CN=Example TSA,O=Example",
}


def test_signed_event_as_the_sdk_sends_it(
    topic: Topic, msi_server: ManagedIdentityServer, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = _publisher(topic)
    assert isinstance(publisher, EventGridOutcomePublisher)
    publisher.publish("signed", FIELDS)
    assert not [r for r in caplog.records if r.name == "signer.outcomes"]  # topic said 200
    assert msi_server.calls_for(EVENTGRID_RESOURCE) == 1
    [request] = topic.requests
    assert request.path == "/api/events"
    assert request.query["api-version"] == ["2018-01-01"]
    assert request.headers["Content-Type"].startswith("application/json")
    [event] = request.body
    assert event["eventType"] == "Signer.ImageSigned"
    assert event["subject"] == f"team/app@{DIGEST}"
    assert event["dataVersion"] == "1.0"
    assert event["data"] == FIELDS
    assert event["id"] and dt.datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))


def test_failed_event_carries_the_reason(topic: Topic) -> None:
    publisher = _publisher(topic)
    fields = {**FIELDS, "signatureDigest": None, "reason": "key vault said no " + "x" * 5000}
    publisher.publish("failed", fields)
    [event] = topic.requests[0].body
    assert event["eventType"] == "Signer.SigningFailed"
    assert event["data"]["signatureDigest"] is None
    assert event["data"]["reason"].startswith("key vault said no")
    assert len(event["data"]["reason"]) < 2100 and event["data"]["reason"].endswith("[truncated]")


def test_publish_failures_are_logged_not_raised(
    topic: Topic, caplog: pytest.LogCaptureFixture
) -> None:
    topic.status = 500
    _publisher(topic).publish("signed", FIELDS)
    assert len(topic.requests) == 2  # one retry, then give up
    [warning] = [r for r in caplog.records if r.name == "signer.outcomes"]
    assert warning.levelno == logging.WARNING
    assert "HTTP 500" in warning.getMessage() and f"team/app@{DIGEST}" in warning.getMessage()
    token = topic.requests[0].headers["Authorization"].removeprefix("Bearer ")
    assert token not in caplog.text


def test_unreachable_topic_is_logged_not_raised(
    topic: Topic, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = outcome_publisher(
        "https://127.0.0.1:9/api/events", ManagedIdentityCredential(), retry_total=0
    )
    publisher.publish("failed", FIELDS)
    assert "could not publish Signer.SigningFailed" in caplog.text


def test_other_outcomes_are_not_published(topic: Topic) -> None:
    _publisher(topic).publish("skipped", FIELDS)
    assert topic.requests == []


def test_off_without_an_endpoint() -> None:
    publisher = outcome_publisher(None, None)
    assert isinstance(publisher, NullPublisher)
    publisher.publish("signed", FIELDS)
    with pytest.raises(ValueError, match="credential"):
        outcome_publisher("https://topic.example/api/events", None)


def test_the_handler_publishes_the_real_certificate_thumbprint(
    topic: Topic, make_app: Any, repository_name: str
) -> None:
    app = make_app()
    app.handlers.publisher = _publisher(topic)  # the worker's publisher, aimed at the local topic
    image = app.pusher.push_image(repository_name, "v1")

    app.deliver(push_event(app.registry_host, repository_name, image.digest, size=image.size))

    [sent] = [e for r in topic.requests for e in r.body]
    assert sent["eventType"] == "Signer.ImageSigned"
    row = app.history(image.digest)[0]
    assert sent["data"]["certificateThumbprint"] == row["certificateThumbprint"]
    assert len(sent["data"]["certificateThumbprint"]) == 64
    assert sent["data"]["signatureDigest"] == row["signatureDigest"]
