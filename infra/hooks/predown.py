"""azd pre-down hook: remove what this environment put outside its own resource group.

    python3 -m infra.hooks.predown            (azd runs it before `azd down`)

`azd down` deletes rg-<environment>, which holds everything the environment owns. Two
things of it live elsewhere and would be left behind, pointing at nothing:

- its Event Grid subscription on the registry's shared system topic (Event Grid would
  keep delivering to a deleted function, and the dead letters would have nowhere to go);
- its identity's role assignments on the registry, the vault and the outcome topic
  (they would stay as assignments of an unknown principal).

The shared system topic and its dead-letter identity stay: other environments use them.
A failure here is reported and does not stop `azd down` (azure.yaml: continueOnError).
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from collections.abc import Callable

from infra.hooks.arm import Arm, HookError, environment, json_setting, outputs, setting

EVENTGRID_API = "2025-02-15"
ROLES_API = "2022-04-01"


def run(arm: Arm, values: dict[str, object], say: Callable[[str], None] = print) -> list[str]:
    """Removes both; returns what could not be removed (empty when all went)."""
    problems: list[str] = []
    try:
        subscription_id = setting(values, "EVENT_SUBSCRIPTION_ID")
        if arm.delete(subscription_id, EVENTGRID_API):
            say(f"pre-down: deleted the event subscription {subscription_id.rsplit('/', 1)[-1]}")
    except HookError as exc:
        problems.append(f"event subscription: {exc}")

    try:
        principal = setting(values, "IDENTITY_PRINCIPAL_ID")
        scopes = json_setting(values, "ROLE_ASSIGNMENT_SCOPES")
    except HookError as exc:
        problems.append(f"role assignments: {exc}")
        return problems
    for scope in scopes if isinstance(scopes, list) else []:
        if not scope:
            continue
        condition = urllib.parse.quote(f"principalId eq '{principal}'")
        path = f"{scope}/providers/Microsoft.Authorization/roleAssignments?$filter={condition}"
        try:
            for assignment in arm.list(path, ROLES_API):
                properties = assignment.get("properties") or {}
                # Only what was granted at this scope: an inherited one is not ours to remove.
                if str(properties.get("scope", "")).lower() != str(scope).lower():
                    continue
                if str(properties.get("principalId")) != principal:
                    continue
                arm.delete(str(assignment["id"]), ROLES_API)
                say(f"pre-down: removed a role assignment on {str(scope).rsplit('/', 1)[-1]}")
        except HookError as exc:
            problems.append(f"role assignments on {scope}: {exc}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--outputs", metavar="FILE", help="deployment outputs written by az")
    args = parser.parse_args(argv)
    env = environment()
    try:
        problems = run(Arm.from_environment(env), dict(outputs(env, args.outputs)))
    except HookError as exc:
        problems = [str(exc)]
    for problem in problems:
        print(f"pre-down: could not clean up {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
