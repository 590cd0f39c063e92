"""What a fresh worker process costs: ``python -m bench.fresh MODE [EVENT.json]``.

Modes (each prints one JSON line on stdout):
  ``import-azure-functions``  time ``import azure.functions`` alone
  ``import-app``              ``azure.functions`` imported first (untimed), then time
                              ``import function_app``: what our code adds
  ``first-signature``         import, build the handlers from the environment (as the
                              first invocation does), then deliver EVENT.json through
                              the decorated ``on_image_pushed`` function itself

Only the standard library is imported before the clock starts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def import_azure_functions() -> dict[str, Any]:
    start = time.perf_counter()
    import azure.functions  # noqa: F401, PLC0415

    return {"import_azure_functions_ms": _ms(start), "modules": len(sys.modules)}


def import_app() -> dict[str, Any]:
    import azure.functions  # noqa: F401, PLC0415

    before = len(sys.modules)
    start = time.perf_counter()
    import function_app  # noqa: F401, PLC0415

    return {"import_function_app_ms": _ms(start), "modules_added": len(sys.modules) - before}


def first_signature(event_file: Path) -> dict[str, Any]:
    event = json.loads(event_file.read_text())
    start = time.perf_counter()
    import azure.functions as func  # noqa: PLC0415

    imported_af = _ms(start)
    mark = time.perf_counter()
    import function_app  # noqa: PLC0415
    from shared import runtime  # noqa: PLC0415

    imported_app = _ms(mark)
    mark = time.perf_counter()
    handlers = runtime.handlers()
    built = _ms(mark)
    grid_event = func.EventGridEvent(
        id=event["id"],
        data=event["data"],
        topic=event["topic"],
        subject=event["subject"],
        event_type=event["eventType"],
        event_time=None,
        data_version=event["dataVersion"],
    )
    user_function = function_app.on_image_pushed.build().get_user_function()
    mark = time.perf_counter()
    user_function(grid_event)
    first_event = _ms(mark)
    total = _ms(start)
    status = handlers.ledger.latest_status(event["data"]["target"]["digest"])
    return {
        "import_azure_functions_ms": imported_af,
        "import_function_app_ms": imported_app,
        "build_handlers_ms": built,
        "first_event_ms": first_event,
        "total_ms": total,
        "status": status,
    }


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    mode = argv[0]
    if mode == "import-azure-functions":
        result = import_azure_functions()
    elif mode == "import-app":
        result = import_app()
    elif mode == "first-signature" and len(argv) == 2:
        result = first_signature(Path(argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
