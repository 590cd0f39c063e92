"""Azure Functions entry points: wiring only.

The logic lives in ``shared.handlers`` (what each trigger does) and ``signer``
(the signing library). Clients are built once per worker, on first use, by
``shared.runtime``.
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from shared import runtime

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.function_name("on_image_pushed")
@app.event_grid_trigger(arg_name="event")
def on_image_pushed(event: func.EventGridEvent) -> None:
    """Sign what an ACR push event names; raising makes Event Grid deliver it again."""
    event_type, data = _event_type_and_data(event)
    runtime.handlers().on_event(event.id, event_type, data)


@app.function_name("sign")
@app.route(route="sign", methods=["POST"])
def sign(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Re-sign on demand: backfill, certificate rotation."""
    status, body = runtime.handlers().on_sign_request(req.get_body(), context.invocation_id)
    return _json(status, body)


@app.function_name("status")
@app.route(route="status", methods=["GET"])
def status(req: func.HttpRequest) -> func.HttpResponse:
    """Signing status and history of one artifact, from the ledger."""
    code, body = runtime.handlers().on_status(req.params.get("reference"))
    return _json(code, body)


def _event_type_and_data(event: Any) -> tuple[Any, Any]:
    # The host hands over an EventGridEvent, or a CloudEvent for CloudEvents 1.0 bodies.
    event_type = getattr(event, "event_type", None) or getattr(event, "type", None)
    data = event.get_json() if hasattr(event, "get_json") else getattr(event, "data", None)
    return event_type, data


def _json(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")
