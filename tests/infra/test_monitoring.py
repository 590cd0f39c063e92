"""The workbook's and the alert's log queries read the lines the signer really writes.

No Kusto engine runs here, so the parts of each query that pick and split log lines are
translated to Python: ``startswith``, ``matches regex`` and ``parse ... with`` in its
default (simple) mode, where each column takes the text up to the first occurrence of
the next string constant and the last column takes the rest. The lines come from the
real app (Debian's docker-registry, Azurite, a dev key) signing, skipping and failing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.sample_events import push_event
from tests.plugins.app import SignerApp

MONITORING = Path(__file__).resolve().parents[2] / "infra" / "monitoring"
MakeApp = Callable[..., SignerApp]


def _workbook_queries() -> dict[str, str]:
    workbook = json.loads((MONITORING / "signer-workbook.json").read_text())
    return {
        item["content"]["title"]: item["content"]["query"]
        for item in workbook["items"]
        if item["type"] == 3
    }


def _startswith(query: str) -> list[str]:
    return re.findall(r'message startswith "([^"]+)"', query)


def _matches(query: str) -> re.Pattern[str]:
    found = re.search(r'message matches regex @"([^"]+)"', query)
    assert found, "the query has no matches regex filter"
    return re.compile(found.group(1))


def _parser(query: str) -> tuple[re.Pattern[str], list[str]]:
    """KQL `parse message with Col " literal" Col ...` (simple mode) as a regex."""
    found = re.search(r"\| parse message with (.+)", query)
    assert found, "the query does not parse the message"
    tokens = re.findall(r'"([^"]*)"|(\w+)', found.group(1))
    columns = [column for _, column in tokens if column]
    parts = []
    for literal, column in tokens:
        if not column:
            parts.append(re.escape(literal))
        elif column == columns[-1]:
            parts.append(f"(?P<{column}>.*)")  # the last column takes the rest
        else:
            parts.append(f"(?P<{column}>.*?)")  # up to the next literal's first occurrence
    return re.compile("^" + "".join(parts) + "$", re.DOTALL), columns


def _parse(query: str, line: str) -> dict[str, str]:
    """A row as KQL gives it: every column empty when the pattern does not match."""
    pattern, columns = _parser(query)
    match = pattern.match(line)
    return match.groupdict() if match else dict.fromkeys(columns, "")


@pytest.fixture
def lines(make_app: MakeApp, repository_name: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The signer's log lines for a signing, a repeated delivery, a bad event, a wrong registry."""
    app = make_app()
    image = app.pusher.push_image(repository_name, "v1")
    with caplog.at_level(logging.INFO, logger="signer"):
        app.deliver(push_event(app.registry_host, repository_name, image.digest, event_id="e-1"))
        app.deliver(push_event(app.registry_host, repository_name, image.digest, event_id="e-2"))
        app.deliver({**push_event(app.registry_host, repository_name, image.digest), "data": {}})
        app.deliver(push_event("other.azurecr.io", repository_name, image.digest, event_id="e-3"))
        app.deliver(
            {
                **push_event(app.registry_host, repository_name, image.digest),
                "eventType": "Microsoft.ContainerRegistry.ImageDeleted",
            }
        )
    return [r.getMessage() for r in caplog.records if r.name == "signer"]


def _line(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert found, f"no line starting {start!r} in {lines}"
    return found[0]


def test_outcomes_query_splits_every_outcome_line(lines: list[str], repository_name: str) -> None:
    query = _workbook_queries()["Outcomes by reason"]
    ignored = _line(lines, "ignored ")
    assert not _matches(query).search(ignored), "a non-push event is not an outcome"

    signed = _parse(query, _line(lines, "signed "))
    assert signed["Status"] == "signed"
    assert signed["EventId"] == "e-1" and signed["CorrelationId"] == "e-1"
    assert signed["Repository"] == repository_name
    assert signed["Digest"].startswith("sha256:") and signed["Signature"].startswith("sha256:")
    assert signed["Code"] == "-" and signed["Reason"] == "-"

    skipped = _parse(query, _line(lines, "skipped "))
    assert skipped["Status"] == "skipped" and skipped["EventId"] == "e-2"
    assert skipped["Code"] == "already_signed"
    assert skipped["Reason"] and skipped["Reason"] != "-"

    wrong = _parse(query, _line(lines, "failed event_id=e-3"))
    assert wrong["Code"] == "wrong_registry" and "other.azurecr.io" in wrong["Reason"]


def test_a_rejected_event_shows_as_invalid(lines: list[str]) -> None:
    """The one outcome line without correlation_id: the query names it invalid_event."""
    query = _workbook_queries()["Outcomes by reason"]
    rejected = [line for line in lines if line.startswith("failed event_id='")]
    assert rejected, lines
    assert _matches(query).search(rejected[0])
    assert _parse(query, rejected[0])["CorrelationId"] == ""
    assert '| extend Code = iff(isempty(CorrelationId), "invalid_event", Code)' in query


def test_signatures_per_hour_counts_signatures_only(lines: list[str]) -> None:
    query = _workbook_queries()["Signatures per hour"]
    (prefix,) = _startswith(query)
    assert [line for line in lines if line.startswith(prefix)] == [_line(lines, "signed ")]


def test_failure_alert_catches_every_failed_outcome(lines: list[str]) -> None:
    query = (MONITORING / "signing-failures.kql").read_text()
    (prefix,) = _startswith(query)
    failed = [line for line in lines if line.startswith(prefix)]
    assert len(failed) == 2  # the wrong registry and the rejected event
    assert not any(
        line.startswith(prefix) for line in lines if line.startswith(("signed", "skipped"))
    )
    assert "requests\n    | where success == false" in query, "failed invocations count too"


def test_failures_table_uses_the_same_parse(lines: list[str]) -> None:
    queries = _workbook_queries()
    assert _parser(queries["Failures, newest first"])[0].pattern == (
        _parser(queries["Outcomes by reason"])[0].pattern
    )
    row: dict[str, Any] = _parse(
        queries["Failures, newest first"], _line(lines, "failed event_id=e-3")
    )
    assert row["Status"] == "failed"
