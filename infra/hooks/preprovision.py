"""azd pre-provision hook: look at what is deployed, refuse what would hurt, fill in the rest.

    python3 -m infra.hooks.preprovision            (azd runs it before every provision)
    python3 -m infra.hooks.preprovision --write-parameters discovered.json   (for az)

Before anything is created or changed it

1. refuses a resource group for this environment that exists but is not this
   environment's (no ``azd-env-name`` tag with its name): ``azd down`` would delete it
   with everything in it;
2. finds the resource groups of the registry, the vault and the outcome topic when they
   are not given, and checks the vault uses the RBAC permission model;
3. finds the registry's Event Grid system topic (a registry has at most one, in any
   resource group) and reads the identities and tags an update must keep;
4. checks the deploying account's rights in every scope the template deploys into and,
   if any is missing, fails with the exact actions and scopes.

What it found goes into the azd environment (``azd env set``), read by
infra/main.parameters.json in the same ``azd provision``. It is recomputed every time, so
nothing remembered from an earlier run can be stale.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.hooks import permissions
from infra.hooks.arm import Arm, HookError, Json, environment, resource_group_of
from infra.hooks.permissions import Need

RESOURCES_API = "2021-04-01"
GROUPS_API = "2024-03-01"
REGISTRY_API = "2025-11-01"
VAULT_API = "2023-07-01"
EVENTGRID_API = "2025-02-15"

REGISTRY_TYPE = "Microsoft.ContainerRegistry/registries"
VAULT_TYPE = "Microsoft.KeyVault/vaults"
TOPIC_TYPE = "Microsoft.EventGrid/topics"
MAX_PREFIXES = 25


def _flag(env: dict[str, str], name: str) -> bool:
    value = env.get(name, "false").strip().lower()
    if value not in ("true", "false", ""):
        raise HookError(f"{name} must be true or false, not {env[name]!r}")
    return value == "true"


@dataclass(frozen=True)
class Config:
    subscription: str
    environment: str
    group: str
    registry: str
    registry_group: str
    create_registry: bool
    vault: str
    vault_group: str
    create_vault: bool
    topic_name: str
    topic_group: str
    outcome_topic: str
    outcome_group: str
    prefixes: str

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Config:
        required = ("AZURE_SUBSCRIPTION_ID", "AZURE_ENV_NAME")
        for name in (*required, "SIGNER_REGISTRY_NAME", "SIGNER_KEY_VAULT_NAME"):
            if not env.get(name):
                raise HookError(f"{name} is not set (azd env set {name} ...)")
        name = env["AZURE_ENV_NAME"]
        return cls(
            subscription=env["AZURE_SUBSCRIPTION_ID"],
            environment=name,
            group=env.get("SIGNER_RESOURCE_GROUP") or f"rg-{name}",
            registry=env["SIGNER_REGISTRY_NAME"],
            registry_group=env.get("SIGNER_REGISTRY_RESOURCE_GROUP", ""),
            create_registry=_flag(env, "SIGNER_CREATE_REGISTRY"),
            vault=env["SIGNER_KEY_VAULT_NAME"],
            vault_group=env.get("SIGNER_KEY_VAULT_RESOURCE_GROUP", ""),
            create_vault=_flag(env, "SIGNER_CREATE_KEY_VAULT"),
            topic_name=env.get("SIGNER_SYSTEM_TOPIC_NAME", ""),
            topic_group=env.get("SIGNER_SYSTEM_TOPIC_RESOURCE_GROUP", ""),
            outcome_topic=env.get("SIGNER_OUTCOME_TOPIC_NAME", ""),
            outcome_group=env.get("SIGNER_OUTCOME_TOPIC_RESOURCE_GROUP", ""),
            prefixes=env.get("SIGNER_EVENT_REPOSITORY_PREFIXES", ""),
        )

    @property
    def subscription_id(self) -> str:
        return f"/subscriptions/{self.subscription}"

    def group_id(self, group: str) -> str:
        return f"{self.subscription_id}/resourceGroups/{group}"


@dataclass
class Plan:
    """What the hook found: azd environment values to set, and what to tell the user."""

    settings: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    needs: list[Need] = field(default_factory=list)


def check_prefixes(prefixes: str) -> None:
    if not prefixes:
        return
    items = prefixes.split(",")
    if any(not item or item != item.strip() or " " in item for item in items):
        raise HookError(
            "SIGNER_EVENT_REPOSITORY_PREFIXES must be comma-separated prefixes without "
            f"spaces or empty entries, got {prefixes!r}"
        )
    if len(items) > MAX_PREFIXES:
        raise HookError(f"Event Grid takes at most {MAX_PREFIXES} prefixes, got {len(items)}")


def check_environment_group(arm: Arm, config: Config) -> Json | None:
    """The group azd down will delete must be new, or already this environment's."""
    group = arm.get(config.group_id(config.group), GROUPS_API)
    if group is None:
        return None
    owner = (group.get("tags") or {}).get("azd-env-name")
    if owner != config.environment:
        whose = f"environment {owner!r}'s" if owner else "not created by azd"
        raise HookError(
            f"Resource group {config.group} already exists and is {whose}. This deployment "
            "creates its own resource group, and `azd down` deletes that group with "
            "everything in it. Choose a new name (azd env set SIGNER_RESOURCE_GROUP <name>) "
            "or leave SIGNER_RESOURCE_GROUP unset for rg-<environment>."
        )
    return group


def find_group(arm: Arm, config: Config, resource_type: str, name: str) -> str:
    """The resource group of the one resource of this type and name in the subscription."""
    condition = f"resourceType eq '{resource_type}' and name eq '{name}'"
    path = f"{config.subscription_id}/resources?$filter={urllib.parse.quote(condition)}"
    found = [r for r in arm.list(path, RESOURCES_API) if r.get("name", "").lower() == name.lower()]
    if not found:
        raise HookError(
            f"No {resource_type} named {name!r} in subscription {config.subscription}. "
            "It must be in the subscription the signer is deployed to."
        )
    return resource_group_of(str(found[0]["id"]))


@dataclass(frozen=True)
class Lookup:
    resource_type: str
    api: str
    setting: str  # the azd environment value that holds its resource group


def locate(arm: Arm, config: Config, what: Lookup, name: str, *, given: str, out: Plan) -> Json:
    """The resource, in the group given or, when that is empty or wrong, where it is."""
    if given:
        found = arm.get(f"{config.group_id(given)}/providers/{what.resource_type}/{name}", what.api)
        if found is not None:
            return found
    group = find_group(arm, config, what.resource_type, name)
    if given:
        out.notes.append(f"{name} is not in {given} but in {group}: {what.setting} updated")
    else:
        out.notes.append(f"{name} is in resource group {group}")
    out.settings[what.setting] = group
    found = arm.get(f"{config.group_id(group)}/providers/{what.resource_type}/{name}", what.api)
    if found is None:
        raise HookError(f"{what.resource_type} {name!r} disappeared from resource group {group}")
    return found


REGISTRY = Lookup(REGISTRY_TYPE, REGISTRY_API, "SIGNER_REGISTRY_RESOURCE_GROUP")
VAULT = Lookup(VAULT_TYPE, VAULT_API, "SIGNER_KEY_VAULT_RESOURCE_GROUP")
OUTCOME_TOPIC = Lookup(TOPIC_TYPE, EVENTGRID_API, "SIGNER_OUTCOME_TOPIC_RESOURCE_GROUP")


def current_system_topic(topic: Json) -> dict[str, Any]:
    """What an update of this topic must keep, in the shape system-topic.bicep takes."""
    identity = topic.get("identity") or {}
    user_assigned = identity.get("userAssignedIdentities") or {}
    return {
        "identityType": identity.get("type") or "None",
        # Lower-case ids so that the union with the signer's identity cannot list one twice,
        # and {} values: principalId and clientId are read-only.
        "userAssignedIdentities": {str(key).lower(): {} for key in user_assigned},
        "tags": topic.get("tags") or {},
    }


def find_system_topic(arm: Arm, config: Config, registry_id: str) -> Json | None:
    path = f"{config.subscription_id}/providers/Microsoft.EventGrid/systemTopics"
    for topic in arm.list(path, EVENTGRID_API):
        source = str((topic.get("properties") or {}).get("source", ""))
        if source.lower() == registry_id.lower():
            return topic
    return None


def plan(arm: Arm, config: Config) -> Plan:
    out = Plan()
    check_prefixes(config.prefixes)
    group = check_environment_group(arm, config)
    env_scope = config.group_id(config.group) if group else config.subscription_id
    out.needs.append(
        Need(
            config.subscription_id,
            f"subscription {config.subscription}",
            permissions.SUBSCRIPTION_ACTIONS,
            "the deployment runs at subscription scope and creates this environment's group",
        )
    )
    out.needs.append(
        Need(
            env_scope,
            f"resource group {config.group} (this environment's)"
            + ("" if group else ", checked at the subscription: it does not exist yet"),
            permissions.ENVIRONMENT_GROUP_ACTIONS,
            "the function app, its storage, identity, monitoring and alerts go there",
        )
    )

    registry_group = config.group if config.create_registry else config.registry_group
    topic_name = config.topic_name or f"evgt-{config.registry}"
    topic_group = config.topic_group or registry_group
    current: dict[str, Any] = {}
    if not config.create_registry:
        registry = locate(
            arm, config, REGISTRY, config.registry, given=config.registry_group, out=out
        )
        registry_group = resource_group_of(str(registry["id"]))
        mode = (registry.get("properties") or {}).get("roleAssignmentMode")
        out.notes.append(f"registry role-assignment mode: {mode or 'LegacyRegistryPermissions'}")
        topic = find_system_topic(arm, config, str(registry["id"]))
        if topic is not None:
            topic_name, topic_group = str(topic["name"]), resource_group_of(str(topic["id"]))
            current = current_system_topic(topic)
            if config.topic_name and config.topic_name != topic_name:
                out.notes.append(
                    f"SIGNER_SYSTEM_TOPIC_NAME was {config.topic_name}, but the registry's "
                    f"system topic is {topic_name}: using it (a registry has only one)"
                )
            out.notes.append(f"reusing system topic {topic_name} in {topic_group}")
        else:
            topic_group = config.topic_group or registry_group
            out.notes.append(f"no system topic yet: creating {topic_name} in {topic_group}")
        out.needs.append(
            Need(
                config.group_id(registry_group),
                f"resource group {registry_group} (the registry's)",
                permissions.DEPLOY,
                "the registry's role assignments are a nested deployment there",
            )
        )
        out.needs.append(
            Need(
                str(registry["id"]),
                f"registry {config.registry}",
                ("Microsoft.ContainerRegistry/registries/read", *permissions.ROLE_GRANT_ACTIONS),
                "the signer's identity gets its push role on the registry",
            )
        )
        out.needs.append(
            Need(
                config.group_id(topic_group),
                f"resource group {topic_group} (the registry's system topic's)",
                permissions.TOPIC_GROUP_ACTIONS,
                "the shared system topic, its dead-letter identity and this environment's "
                "event subscription are deployed there",
            )
        )
    out.settings["SIGNER_SYSTEM_TOPIC_NAME"] = topic_name
    out.settings["SIGNER_SYSTEM_TOPIC_RESOURCE_GROUP"] = topic_group
    out.settings["SIGNER_SYSTEM_TOPIC_CURRENT"] = json.dumps(current, sort_keys=True)

    if not config.create_vault:
        vault = locate(arm, config, VAULT, config.vault, given=config.vault_group, out=out)
        vault_group = resource_group_of(str(vault["id"]))
        if not (vault.get("properties") or {}).get("enableRbacAuthorization"):
            raise HookError(
                f"Key vault {config.vault} uses access policies; the signer's roles need the "
                f"Azure RBAC permission model (az keyvault update -n {config.vault} "
                "--enable-rbac-authorization true)."
            )
        out.needs.append(
            Need(
                config.group_id(vault_group),
                f"resource group {vault_group} (the key vault's)",
                permissions.DEPLOY,
                "the vault's role assignments are a nested deployment there",
            )
        )
        out.needs.append(
            Need(
                str(vault["id"]),
                f"key vault {config.vault}",
                ("Microsoft.KeyVault/vaults/read", *permissions.ROLE_GRANT_ACTIONS),
                "the signer's identity gets Crypto User and Certificate User on the vault",
            )
        )

    if config.outcome_topic:
        outcome = locate(
            arm, config, OUTCOME_TOPIC, config.outcome_topic, given=config.outcome_group, out=out
        )
        outcome_group, topic_id = resource_group_of(str(outcome["id"])), str(outcome["id"])
        out.needs.append(
            Need(
                config.group_id(outcome_group),
                f"resource group {outcome_group} (the outcome topic's)",
                permissions.DEPLOY,
                "the outcome topic's role assignment is a nested deployment there",
            )
        )
        out.needs.append(
            Need(
                topic_id,
                f"Event Grid topic {config.outcome_topic}",
                ("Microsoft.EventGrid/topics/read", *permissions.ROLE_GRANT_ACTIONS),
                "the signer's identity gets EventGrid Data Sender on it",
            )
        )
    return out


def run(arm: Arm, config: Config, set_setting: Callable[[str, str], None]) -> Plan:
    result = plan(arm, config)
    report = permissions.check(arm, result.needs)
    if not report.ok:
        raise HookError(report.message())
    for need, why in report.unchecked:
        result.notes.append(f"could not check rights on {need.label}: {why}")
    for name, value in result.settings.items():
        set_setting(name, value)
    return result


def azd_env_set(name: str, value: str) -> None:
    result = subprocess.run(
        ["azd", "env", "set", name, value], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise HookError(f"azd env set {name} failed: {result.stderr.strip()}")


SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"


def write_parameters(path: str) -> Callable[[str, str], None]:
    """For deployments with az: the discovered values as an ARM parameters file."""
    names = {
        "SIGNER_REGISTRY_RESOURCE_GROUP": "registryResourceGroupName",
        "SIGNER_KEY_VAULT_RESOURCE_GROUP": "keyVaultResourceGroupName",
        "SIGNER_OUTCOME_TOPIC_RESOURCE_GROUP": "outcomeTopicResourceGroupName",
        "SIGNER_SYSTEM_TOPIC_NAME": "systemTopicName",
        "SIGNER_SYSTEM_TOPIC_RESOURCE_GROUP": "systemTopicResourceGroupName",
        "SIGNER_SYSTEM_TOPIC_CURRENT": "existingSystemTopic",
    }
    collected: dict[str, Any] = {}

    def add(name: str, value: str) -> None:
        parameter = names[name]
        collected[parameter] = {
            "value": json.loads(value) if parameter == "existingSystemTopic" else value
        }
        document = {
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": collected,
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)

    return add


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--write-parameters",
        metavar="FILE",
        help="write what was found to an ARM parameters file instead of the azd environment",
    )
    args = parser.parse_args(argv)
    env = environment()
    try:
        config = Config.from_env(env)
        setter = write_parameters(args.write_parameters) if args.write_parameters else azd_env_set
        result = run(Arm.from_environment(env), config, setter)
    except HookError as exc:
        print(f"pre-provision: {exc}", file=sys.stderr)
        return 1
    for note in result.notes:
        print(f"pre-provision: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
