"""azd post-deploy hook: this environment's Event Grid subscription, once its function exists.

    python3 -m infra.hooks.postdeploy                     (azd runs it after every deploy)
    python3 -m infra.hooks.postdeploy --outputs outputs.json      (after a deployment with az)

Event Grid checks an AzureFunction destination against the deployed code, so the
subscription cannot be part of the provisioning that creates the app. Microsoft's Flex
Consumption + Event Grid sample creates it after the deploy; so does this hook. What it
does is decided from what is deployed, never from a remembered flag:

- the function (on_image_pushed) is not listed on the app yet: wait for the host to index
  the new code, then look again, and fail with the command to run if it never appears;
- the subscription does not exist, or differs from what the template wants: PUT it, as
  main.bicep's EVENT_SUBSCRIPTION_PROPERTIES describe it, and wait until it has succeeded;
- it exists as wanted: nothing to do.
"""

from __future__ import annotations

import argparse
import enum
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.hooks.arm import Arm, HookError, Json, environment, json_setting, outputs, setting

SITES_API = "2024-04-01"
EVENTGRID_API = "2025-02-15"


class Action(enum.Enum):
    WAIT = "wait for the function to be indexed"
    CREATE = "create the subscription"
    UPDATE = "update the subscription"
    NOTHING = "nothing: the subscription is as wanted"


@dataclass(frozen=True)
class Deployed:
    function_listed: bool
    subscription: Json | None  # its properties as Event Grid reports them, or None


def decide(deployed: Deployed, wanted: Json) -> Action:
    if not deployed.function_listed:
        return Action.WAIT
    if deployed.subscription is None:
        return Action.CREATE
    if _covers(deployed.subscription, wanted):
        return Action.NOTHING
    return Action.UPDATE


def _covers(actual: Any, wanted: Any) -> bool:
    """Every wanted value is there (Event Grid adds read-only and default properties)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            _covers(actual.get(key), value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(_covers(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    if isinstance(wanted, str) and wanted.startswith("/subscriptions/"):
        return isinstance(actual, str) and actual.lower() == wanted.lower()  # resource ids
    return bool(actual == wanted)


def function_listed(arm: Arm, site_id: str, function_name: str) -> bool:
    names = {
        str(f.get("name", "")).rsplit("/", 1)[-1]
        for f in arm.list(f"{site_id}/functions", SITES_API)
    }
    return function_name in names


def current_subscription(arm: Arm, subscription_id: str) -> Json | None:
    found = arm.get(subscription_id, EVENTGRID_API)
    return None if found is None else dict(found.get("properties") or {})


@dataclass(frozen=True)
class Target:
    site_id: str
    function_name: str
    subscription_id: str
    properties: Json

    @classmethod
    def from_outputs(cls, values: dict[str, Any]) -> Target:
        properties = json_setting(values, "EVENT_SUBSCRIPTION_PROPERTIES")
        if not isinstance(properties, dict):
            raise HookError("EVENT_SUBSCRIPTION_PROPERTIES must be a JSON object")
        return cls(
            site_id=setting(values, "FUNCTION_APP_ID"),
            function_name=setting(values, "EVENT_FUNCTION_NAME"),
            subscription_id=setting(values, "EVENT_SUBSCRIPTION_ID"),
            properties=properties,
        )


def run(
    arm: Arm,
    target: Target,
    *,
    attempts: int = 20,
    interval: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = print,
) -> Action:
    for attempt in range(1, attempts + 1):
        deployed = Deployed(
            function_listed(arm, target.site_id, target.function_name),
            current_subscription(arm, target.subscription_id),
        )
        action = decide(deployed, target.properties)
        if action is not Action.WAIT:
            break
        if attempt == attempts:
            raise HookError(
                f"{target.function_name} is still not listed on the function app after "
                f"{attempts} checks; once it is (Azure portal, Functions), run "
                "`azd hooks run postdeploy` to create the Event Grid subscription."
            )
        say(f"post-deploy: {target.function_name} is not indexed yet; checking again soon")
        sleep(interval)
    say(f"post-deploy: {action.value}")
    if action in (Action.CREATE, Action.UPDATE):
        arm.put(target.subscription_id, EVENTGRID_API, {"properties": target.properties})
        wait_until_provisioned(arm, target.subscription_id, sleep=sleep, interval=interval)
    return action


def wait_until_provisioned(
    arm: Arm,
    subscription_id: str,
    *,
    sleep: Callable[[float], None],
    interval: float,
    attempts: int = 40,
) -> None:
    for _ in range(attempts):
        state = (current_subscription(arm, subscription_id) or {}).get("provisioningState")
        if state == "Succeeded":
            return
        if state in ("Failed", "Canceled"):
            raise HookError(f"the Event Grid subscription ended in state {state}")
        sleep(interval)
    raise HookError("the Event Grid subscription did not finish provisioning in time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--outputs", metavar="FILE", help="deployment outputs written by az")
    args = parser.parse_args(argv)
    env = environment()
    try:
        run(Arm.from_environment(env), Target.from_outputs(outputs(env, args.outputs)))
    except HookError as exc:
        print(f"post-deploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
