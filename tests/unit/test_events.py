"""ACR push events: the sample shapes parse; every malformed field is named."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.errors import InvalidEventError
from signer.events import CHART_PUSHED, IMAGE_PUSHED, parse_push_event

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "acr-events"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def test_event_grid_sample_parses() -> None:
    [event] = sample("imagepushed.eventgrid.json")
    parsed = parse_push_event(event["id"], event["eventType"], event["data"])
    assert parsed.registry == "demo.azurecr.io"
    assert parsed.repository == "net-monitor"
    assert parsed.tag == "v1"
    assert parsed.digest == event["data"]["target"]["digest"]
    assert not parsed.is_legacy_chart


def test_cloudevents_sample_parses_the_same() -> None:
    [grid] = sample("imagepushed.eventgrid.json")
    cloud = sample("imagepushed.cloudevents.json")
    a = parse_push_event(grid["id"], grid["eventType"], grid["data"])
    b = parse_push_event(cloud["id"], cloud["type"], cloud["data"])
    assert a == b


def test_legacy_chart_event_is_recognised() -> None:
    [event] = sample("chartpushed.eventgrid.json")
    parsed = parse_push_event(event["id"], CHART_PUSHED, event["data"])
    assert parsed.is_legacy_chart
    assert parsed.registry is None


def test_untagged_push_has_no_tag() -> None:
    [event] = sample("imagepushed.eventgrid.json")
    for empty in ("", None):
        data = copy.deepcopy(event["data"])
        data["target"]["tag"] = empty
        assert parse_push_event("id", IMAGE_PUSHED, data).tag is None


def _mutated(path: list[str], value: Any) -> dict[str, Any]:
    [event] = sample("imagepushed.eventgrid.json")
    data: dict[str, Any] = copy.deepcopy(event["data"])
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["target"], KeyError, "data.target is missing"),
        (["target"], "x", "data.target must be a JSON object"),
        (["target", "repository"], KeyError, "data.target.repository is missing"),
        (["target", "repository"], 42, "must be a string"),
        (["target", "repository"], "../../etc", "invalid repository name"),
        (["target", "repository"], "Net-Monitor", "invalid repository name"),
        (["target", "repository"], "net\u2010monitor", "invalid repository name"),
        (["target", "repository"], "net-monitor\r\n", "invalid repository name"),
        (["target", "digest"], KeyError, "data.target.digest is missing"),
        (["target", "digest"], "sha256:1234", "invalid digest"),
        (["target", "digest"], "sha1:" + "a" * 40, "invalid digest"),
        (["target", "digest"], ["sha256:" + "a" * 64], "must be a string"),
        (["target", "tag"], 1, "must be a string"),
        (["target", "tag"], "v1;rm -rf", "invalid tag"),
        (["target", "mediaType"], {}, "must be a string"),
        (["request"], "host", "data.request must be a JSON object"),
        (["request", "host"], KeyError, "request.host is missing"),
        (["request", "host"], "evil.example.com/../x", "invalid registry host"),
    ],
)
def test_malformed_event_data_is_named(path: list[str], value: Any, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        parse_push_event("id-1", IMAGE_PUSHED, _mutated(path, value))


@pytest.mark.parametrize("data", [None, [], "x", 1])
def test_data_must_be_an_object(data: Any) -> None:
    with pytest.raises(InvalidEventError, match="data must be a JSON object"):
        parse_push_event("id-1", IMAGE_PUSHED, data)


@pytest.mark.parametrize("event_id", [None, "", "  ", "x" * 129, "a\nb"])
def test_event_id_is_checked(event_id: Any) -> None:
    [event] = sample("imagepushed.eventgrid.json")
    with pytest.raises(InvalidEventError, match="event id"):
        parse_push_event(event_id, IMAGE_PUSHED, event["data"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_arbitrary_data_never_crashes(data: Any) -> None:
    with contextlib.suppress(InvalidEventError):
        parse_push_event("id", IMAGE_PUSHED, data)


@given(
    st.fixed_dictionaries(
        {
            "target": st.fixed_dictionaries(
                {"repository": json_values, "digest": json_values, "tag": json_values}
            ),
            "request": st.fixed_dictionaries({"host": json_values}),
        }
    )
)
def test_arbitrary_target_fields_never_crash(data: Any) -> None:
    with contextlib.suppress(InvalidEventError):
        parse_push_event("id", IMAGE_PUSHED, data)
