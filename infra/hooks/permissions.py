"""What the deploying account must be allowed to do, scope by scope, checked before it tries.

The template deploys into several resource groups: this environment's (created), the
registry's and the vault's (role assignments, through nested deployments), the system
topic's (the topic, its dead-letter identity, later the event subscription). Rights on
a resource alone are not enough: a nested deployment needs
Microsoft.Resources/deployments/write on the group it lands in. The caller's effective
rights at each scope come from ARM's permissions API; an action is allowed when one
entry's actions match it and that same entry's notActions do not (ARM's rule; deny
assignments are not reported there and are not considered).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from infra.hooks.arm import Arm, ArmError, Json

API = "2022-04-01"

DEPLOY = ("Microsoft.Resources/deployments/write", "Microsoft.Resources/deployments/read")


@dataclass(frozen=True)
class Need:
    """Actions needed at one scope, and why (said in the failure message)."""

    scope: str  # an ARM id: /subscriptions/..., .../resourceGroups/x, or a resource
    label: str
    actions: tuple[str, ...]
    why: str


SUBSCRIPTION_ACTIONS = (
    *DEPLOY,
    "Microsoft.Resources/deployments/validate/action",
    "Microsoft.Resources/subscriptions/resourceGroups/write",
)
ENVIRONMENT_GROUP_ACTIONS = (
    "Microsoft.Resources/deployments/write",
    "Microsoft.ManagedIdentity/userAssignedIdentities/write",
    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
    "Microsoft.Storage/storageAccounts/write",
    "Microsoft.Web/serverfarms/write",
    "Microsoft.Web/sites/write",
    "Microsoft.OperationalInsights/workspaces/write",
    "Microsoft.Insights/components/write",
    "Microsoft.Insights/actionGroups/write",
    "Microsoft.Insights/metricAlerts/write",
    "Microsoft.Insights/scheduledQueryRules/write",
    "Microsoft.Insights/workbooks/write",
    "Microsoft.Authorization/roleAssignments/write",
)
TOPIC_GROUP_ACTIONS = (
    *DEPLOY,
    "Microsoft.EventGrid/systemTopics/read",
    "Microsoft.EventGrid/systemTopics/write",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions/write",
    "Microsoft.ManagedIdentity/userAssignedIdentities/write",
    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
)
ROLE_GRANT_ACTIONS = ("Microsoft.Authorization/roleAssignments/write",)


@dataclass
class Report:
    missing: dict[Need, list[str]] = field(default_factory=dict)
    unchecked: list[tuple[Need, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def message(self) -> str:
        lines = [
            "The account deploying (azd auth login) lacks rights this deployment needs, so "
            "nothing was changed. Missing, scope by scope:"
        ]
        for need, actions in self.missing.items():
            lines.append(f"  {need.label} ({need.scope})")
            lines.append(f"    needed because {need.why}")
            lines.extend(f"    - {action}" for action in actions)
        lines.append(
            "Built-in roles that cover them: Contributor plus Role Based Access Control "
            "Administrator (or Owner) on each of these scopes; docs/deploy.md, "
            '"Permissions", lists a narrower custom role.'
        )
        return "\n".join(lines)


def _pattern(action: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(action).replace(r"\*", ".*") + "$", re.IGNORECASE)


def allowed(action: str, permissions: Iterable[Json]) -> bool:
    for entry in permissions:
        granted = any(_pattern(a).match(action) for a in entry.get("actions", []))
        denied = any(_pattern(a).match(action) for a in entry.get("notActions", []))
        if granted and not denied:
            return True
    return False


def missing_actions(actions: Iterable[str], permissions: list[Json]) -> list[str]:
    return [action for action in actions if not allowed(action, permissions)]


def check(arm: Arm, needs: Iterable[Need]) -> Report:
    report = Report()
    for need in needs:
        path = f"{need.scope.rstrip('/')}/providers/Microsoft.Authorization/permissions"
        try:
            permissions = list(arm.list(path, API))
        except ArmError as exc:
            if exc.status == 403:  # not even allowed to read there: nothing is allowed
                report.missing[need] = list(need.actions)
                continue
            if exc.status in (400, 404):  # a scope this API does not answer for
                report.unchecked.append((need, str(exc)))
                continue
            raise
        missing = missing_actions(need.actions, permissions)
        if missing:
            report.missing[need] = missing
    return report
