"""The azd hooks (infra/hooks) against a local Azure Resource Manager over real HTTP.

Azure itself cannot run here; tests/infra/arm_server.py answers the few ARM calls the
hooks make, from resources the tests put in it. What is tested is the hooks' decisions
from deployed state: what pre-provision finds and refuses, when post-deploy creates,
updates or leaves the event subscription, what pre-down removes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.hooks import permissions, postdeploy, predown, preprovision
from infra.hooks.arm import Arm, HookError, outputs
from infra.hooks.postdeploy import Action, Deployed, Target, decide
from tests.infra.arm_server import OWNER, TOKEN, FakeArm, resource_id

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-0000000000aa"
SUB_ID = f"/subscriptions/{SUB}"
REGISTRY_ID = resource_id(SUB, "rg-shared", "Microsoft.ContainerRegistry/registries", "myreg")
VAULT_ID = resource_id(SUB, "rg-security", "Microsoft.KeyVault/vaults", "mykv")
TOPIC_ID = resource_id(SUB, "rg-events", "Microsoft.EventGrid/systemTopics", "myreg-topic")
SITE_ID = resource_id(SUB, "rg-prod", "Microsoft.Web/sites", "func-signer-abc")
SUBSCRIPTION_ID = f"{TOPIC_ID}/eventSubscriptions/notary-signer-abc"
PRINCIPAL = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def fake() -> Iterator[FakeArm]:
    with FakeArm() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def arm(fake: FakeArm, sleeps: list[float]) -> Arm:
    return Arm(lambda: TOKEN, fake.endpoint, sleep=sleeps.append)


def _world(fake: FakeArm, *, topic: bool = False, rbac_vault: bool = True) -> None:
    fake.state.permissions[SUB_ID.lower()] = OWNER
    fake.state.add(
        {
            "id": REGISTRY_ID,
            "name": "myreg",
            "type": "Microsoft.ContainerRegistry/registries",
            "properties": {
                "loginServer": "myreg.azurecr.io",
                "roleAssignmentMode": "AbacRepositoryPermissions",
            },
        }
    )
    fake.state.add(
        {
            "id": VAULT_ID,
            "name": "mykv",
            "type": "Microsoft.KeyVault/vaults",
            "properties": {"enableRbacAuthorization": rbac_vault},
        }
    )
    if topic:
        fake.state.add(
            {
                "id": TOPIC_ID,
                "name": "myreg-topic",
                "type": "Microsoft.EventGrid/systemTopics",
                "tags": {"owner": "platform"},
                "identity": {
                    "type": "SystemAssigned, UserAssigned",
                    "userAssignedIdentities": {
                        resource_id(
                            SUB,
                            "RG-Events",
                            "Microsoft.ManagedIdentity/userAssignedIdentities",
                            "id-DL",
                        ): {
                            "principalId": "p",
                            "clientId": "c",
                        },
                    },
                },
                "properties": {
                    "source": REGISTRY_ID.upper(),
                    "topicType": "Microsoft.ContainerRegistry.Registries",
                },
            }
        )
    # Unrelated resources with similar names, so the lookups must filter.
    fake.state.add(
        {
            "id": resource_id(
                SUB, "rg-other", "Microsoft.ContainerRegistry/registries", "otherreg"
            ),
            "name": "otherreg",
            "type": "Microsoft.ContainerRegistry/registries",
            "properties": {},
        }
    )


def _env(**overrides: str) -> dict[str, str]:
    env = {
        "AZURE_SUBSCRIPTION_ID": SUB,
        "AZURE_ENV_NAME": "prod",
        "SIGNER_REGISTRY_NAME": "myreg",
        "SIGNER_KEY_VAULT_NAME": "mykv",
    }
    env.update(overrides)
    return env


def _preprovision(arm: Arm, **env: str) -> tuple[preprovision.Plan, dict[str, str]]:
    settings: dict[str, str] = {}
    result = preprovision.run(arm, preprovision.Config.from_env(_env(**env)), settings.__setitem__)
    return result, settings


# ---------------------------------------------------------------------------------
# pre-provision
# ---------------------------------------------------------------------------------


def test_finds_groups_and_plans_a_new_topic(fake: FakeArm, arm: Arm) -> None:
    _world(fake)
    _, settings = _preprovision(arm)
    assert settings == {
        "SIGNER_REGISTRY_RESOURCE_GROUP": "rg-shared",
        "SIGNER_KEY_VAULT_RESOURCE_GROUP": "rg-security",
        "SIGNER_SYSTEM_TOPIC_NAME": "evgt-myreg",
        "SIGNER_SYSTEM_TOPIC_RESOURCE_GROUP": "rg-shared",
        "SIGNER_SYSTEM_TOPIC_CURRENT": "{}",
    }


def test_reuses_the_registry_topic_and_keeps_its_identities(fake: FakeArm, arm: Arm) -> None:
    """Another environment's (or anyone's) topic: its identities and tags carry over."""
    _world(fake, topic=True)
    result, settings = _preprovision(
        arm, SIGNER_REGISTRY_RESOURCE_GROUP="rg-shared", SIGNER_SYSTEM_TOPIC_NAME="mine"
    )
    assert settings["SIGNER_SYSTEM_TOPIC_NAME"] == "myreg-topic"
    assert settings["SIGNER_SYSTEM_TOPIC_RESOURCE_GROUP"] == "rg-events"
    current = json.loads(settings["SIGNER_SYSTEM_TOPIC_CURRENT"])
    assert current == {
        "identityType": "SystemAssigned, UserAssigned",
        "userAssignedIdentities": {
            resource_id(
                SUB, "RG-Events", "Microsoft.ManagedIdentity/userAssignedIdentities", "id-DL"
            ).lower(): {}
        },
        "tags": {"owner": "platform"},
    }
    assert any("a registry has only one" in note for note in result.notes)
    assert "SIGNER_REGISTRY_RESOURCE_GROUP" not in settings  # given and right: left alone


def test_a_stale_registry_group_is_corrected(fake: FakeArm, arm: Arm) -> None:
    _world(fake)
    result, settings = _preprovision(arm, SIGNER_REGISTRY_RESOURCE_GROUP="rg-old")
    assert settings["SIGNER_REGISTRY_RESOURCE_GROUP"] == "rg-shared"
    assert any("not in rg-old but in rg-shared" in note for note in result.notes)


def test_registry_in_another_subscription_fails_early(fake: FakeArm, arm: Arm) -> None:
    _world(fake)
    with pytest.raises(HookError, match=r"No Microsoft\.ContainerRegistry/registries named 'nope'"):
        _preprovision(arm, SIGNER_REGISTRY_NAME="nope")


@pytest.mark.parametrize(
    ("tags", "expect"),
    [({}, "not created by azd"), ({"azd-env-name": "staging"}, "environment 'staging'")],
)
def test_refuses_a_group_that_is_not_this_environments(
    fake: FakeArm, arm: Arm, tags: dict[str, str], expect: str
) -> None:
    """azd down deletes the group it created; a group with other things in it is refused."""
    _world(fake)
    fake.state.add(
        {"id": f"{SUB_ID}/resourceGroups/rg-prod", "name": "rg-prod", "type": "x", "tags": tags}
    )
    settings: dict[str, str] = {}
    with pytest.raises(HookError, match=f"already exists and is {expect}.*azd down"):
        preprovision.run(arm, preprovision.Config.from_env(_env()), settings.__setitem__)
    assert not settings, "nothing may be written before the checks pass"


def test_accepts_its_own_group(fake: FakeArm, arm: Arm) -> None:
    _world(fake)
    fake.state.add(
        {
            "id": f"{SUB_ID}/resourceGroups/rg-prod",
            "name": "rg-prod",
            "type": "x",
            "tags": {"azd-env-name": "prod"},
        }
    )
    result, _ = _preprovision(arm)
    env_need = next(n for n in result.needs if "this environment's" in n.label)
    assert env_need.scope == f"{SUB_ID}/resourceGroups/rg-prod"  # checked where it is


def test_vault_with_access_policies_fails_early(fake: FakeArm, arm: Arm) -> None:
    _world(fake, rbac_vault=False)
    with pytest.raises(HookError, match=r"uses access policies.*enable-rbac-authorization"):
        _preprovision(arm)


def test_missing_rights_fail_with_the_exact_actions(fake: FakeArm, arm: Arm) -> None:
    """Rights on the registry alone are not enough: the nested deployment lands in its group."""
    _world(fake)
    fake.state.permissions = {
        SUB_ID.lower(): [{"actions": ["*"], "notActions": []}],
        # Contributor on the subscription but role assignments only via the registry
        # itself, nothing on the vault's group
    }
    fake.state.permissions[SUB_ID.lower()] = [
        {
            "actions": ["*"],
            "notActions": ["Microsoft.Authorization/*/Write", "Microsoft.Authorization/*/Delete"],
        }
    ]
    fake.state.permissions[REGISTRY_ID.lower()] = [
        {"actions": ["Microsoft.Authorization/roleAssignments/write"], "notActions": []}
    ]
    settings: dict[str, str] = {}
    with pytest.raises(HookError) as failure:
        preprovision.run(arm, preprovision.Config.from_env(_env()), settings.__setitem__)
    message = str(failure.value)
    assert "nothing was changed" in message
    assert f"key vault mykv ({VAULT_ID})" in message
    assert "registry myreg" not in message, "the registry-level grant covers the registry"
    assert re.search(r"rg-prod.*\n.*\n\s+- Microsoft.Authorization/roleAssignments/write", message)
    assert "Role Based Access Control Administrator" in message
    assert not settings


def test_rights_on_the_registry_but_not_on_its_group(fake: FakeArm, arm: Arm) -> None:
    """The system topic is a resource of the group: Owner on the registry does not cover it."""
    _world(fake)
    fake.state.permissions = {
        f"{SUB_ID}/resourceGroups/rg-prod".lower(): OWNER,
        SUB_ID.lower(): [
            {
                "actions": [
                    *permissions.SUBSCRIPTION_ACTIONS,
                    *permissions.ENVIRONMENT_GROUP_ACTIONS,
                ],
                "notActions": [],
            }
        ],
        REGISTRY_ID.lower(): OWNER,
        VAULT_ID.lower(): OWNER,
        f"{SUB_ID}/resourceGroups/rg-security".lower(): OWNER,
    }
    with pytest.raises(HookError) as failure:
        _preprovision(arm)
    message = str(failure.value)
    assert "resource group rg-shared (the registry's system topic's)" in message
    assert "- Microsoft.EventGrid/systemTopics/write" in message
    assert "- Microsoft.ManagedIdentity/userAssignedIdentities/write" not in message  # inherited
    assert "rg-security" not in message and "registry myreg" not in message


def test_no_access_at_all_counts_as_missing(fake: FakeArm, arm: Arm) -> None:
    _world(fake)
    fake.state.faults["GET rg-security/providers/Microsoft.Authorization/permissions"] = [(403, {})]
    with pytest.raises(HookError) as failure:
        _preprovision(arm)
    assert "resource group rg-security (the key vault's)" in str(failure.value)
    assert "- Microsoft.Resources/deployments/write" in str(failure.value)


@pytest.mark.parametrize(
    ("action", "entries", "expected"),
    [
        ("Microsoft.Web/sites/write", [{"actions": ["*"]}], True),
        ("Microsoft.Web/sites/write", [{"actions": ["microsoft.web/*"]}], True),
        ("Microsoft.Web/sites/write", [{"actions": ["*/read"]}], False),
        (
            "Microsoft.Authorization/roleAssignments/write",
            [{"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Write"]}],
            False,
        ),
        # notActions only subtract within their own entry
        (
            "Microsoft.Authorization/roleAssignments/write",
            [
                {"actions": ["*"], "notActions": ["Microsoft.Authorization/*"]},
                {"actions": ["Microsoft.Authorization/roleAssignments/*"]},
            ],
            True,
        ),
    ],
)
def test_permission_matching(action: str, entries: list[dict[str, Any]], expected: bool) -> None:
    assert permissions.allowed(action, entries) is expected


@pytest.mark.parametrize("prefixes", ["prod/, release/", "prod/,,x", ",".join(["p"] * 26)])
def test_bad_prefixes_fail_early(prefixes: str) -> None:
    with pytest.raises(HookError, match=r"PREFIXES|at most 25"):
        preprovision.check_prefixes(prefixes)


def test_parameters_file_for_az(fake: FakeArm, arm: Arm, tmp_path: Path) -> None:
    _world(fake, topic=True)
    target = tmp_path / "discovered.json"
    preprovision.run(
        arm, preprovision.Config.from_env(_env()), preprovision.write_parameters(str(target))
    )
    document = json.loads(target.read_text())["parameters"]
    assert document["systemTopicName"] == {"value": "myreg-topic"}
    assert (
        document["existingSystemTopic"]["value"]["identityType"] == "SystemAssigned, UserAssigned"
    )
    assert document["registryResourceGroupName"] == {"value": "rg-shared"}


def test_demo_registry_skips_the_lookups(fake: FakeArm, arm: Arm) -> None:
    fake.state.permissions[SUB_ID.lower()] = OWNER
    _, settings = _preprovision(arm, SIGNER_CREATE_REGISTRY="true", SIGNER_CREATE_KEY_VAULT="true")
    assert settings == {
        "SIGNER_SYSTEM_TOPIC_NAME": "evgt-myreg",
        "SIGNER_SYSTEM_TOPIC_RESOURCE_GROUP": "rg-prod",
        "SIGNER_SYSTEM_TOPIC_CURRENT": "{}",
    }


# ---------------------------------------------------------------------------------
# post-deploy: the event subscription, decided from what is deployed
# ---------------------------------------------------------------------------------

WANTED = {
    "destination": {
        "endpointType": "AzureFunction",
        "properties": {
            "resourceId": f"{SITE_ID}/functions/on_image_pushed",
            "maxEventsPerBatch": 1,
        },
    },
    "filter": {"includedEventTypes": ["Microsoft.ContainerRegistry.ImagePushed"]},
}


@pytest.mark.parametrize(
    ("listed", "existing", "expected"),
    [
        (False, None, Action.WAIT),
        (False, WANTED, Action.WAIT),  # the app was replaced: wait for the new code first
        (True, None, Action.CREATE),
        (True, {**WANTED, "provisioningState": "Succeeded", "labels": []}, Action.NOTHING),
        (
            True,
            json.loads(json.dumps(WANTED).replace("/subscriptions/", "/SUBSCRIPTIONS/")),
            Action.NOTHING,
        ),
        (True, {**WANTED, "filter": {"includedEventTypes": []}}, Action.UPDATE),
        (True, {"destination": {"endpointType": "WebHook"}}, Action.UPDATE),
    ],
)
def test_decision(listed: bool, existing: dict[str, Any] | None, expected: Action) -> None:
    assert decide(Deployed(listed, existing), WANTED) is expected


def _deployed_app(fake: FakeArm, functions: list[str]) -> None:
    fake.state.add({"id": SITE_ID, "name": "func-signer-abc", "type": "Microsoft.Web/sites"})
    fake.state.functions[SITE_ID.lower()] = functions


def _outputs() -> dict[str, str]:
    return {
        "FUNCTION_APP_ID": SITE_ID,
        "EVENT_FUNCTION_NAME": "on_image_pushed",
        "EVENT_SUBSCRIPTION_ID": SUBSCRIPTION_ID,
        "EVENT_SUBSCRIPTION_PROPERTIES": json.dumps(WANTED),
        # A flag the old template remembered; it must not change anything now.
        "SIGNER_DEPLOY_EVENT_SUBSCRIPTION": "true",
    }


def test_creates_the_subscription_once_the_function_is_indexed(
    fake: FakeArm, arm: Arm, sleeps: list[float]
) -> None:
    _deployed_app(fake, [])
    checks = {"n": 0}
    original = fake.state.functions

    def index_after_two_checks(*_: Any) -> None:
        checks["n"] += 1
        if checks["n"] == 2:
            original[SITE_ID.lower()] = ["sign", "status", "on_image_pushed"]

    said: list[str] = []
    action = postdeploy.run(
        arm,
        Target.from_outputs(_outputs()),
        interval=7,
        sleep=index_after_two_checks,
        say=said.append,
    )
    assert action is Action.CREATE
    assert checks["n"] >= 2
    puts = fake.state.calls("PUT", "/eventSubscriptions/")
    assert len(puts) == 1 and puts[0].body == {"properties": WANTED}
    stored = fake.state.get(SUBSCRIPTION_ID)
    assert stored is not None and stored["properties"]["provisioningState"] == "Succeeded"
    assert any("not indexed yet" in line for line in said)


def test_leaves_a_matching_subscription_alone(fake: FakeArm, arm: Arm) -> None:
    _deployed_app(fake, ["on_image_pushed"])
    fake.state.add(
        {
            "id": SUBSCRIPTION_ID,
            "name": "notary-signer-abc",
            "type": "x",
            "properties": {**WANTED, "provisioningState": "Succeeded"},
        }
    )
    action = postdeploy.run(
        arm, Target.from_outputs(_outputs()), sleep=lambda _: None, say=lambda _: None
    )
    assert action is Action.NOTHING
    assert not fake.state.calls("PUT")


def test_updates_a_subscription_that_drifted(fake: FakeArm, arm: Arm) -> None:
    _deployed_app(fake, ["on_image_pushed"])
    fake.state.add(
        {
            "id": SUBSCRIPTION_ID,
            "name": "notary-signer-abc",
            "type": "x",
            "properties": {"destination": {"endpointType": "WebHook"}},
        }
    )
    action = postdeploy.run(
        arm, Target.from_outputs(_outputs()), sleep=lambda _: None, say=lambda _: None
    )
    assert action is Action.UPDATE
    assert fake.state.calls("PUT")[0].body == {"properties": WANTED}


def test_never_indexed_fails_with_what_to_run(fake: FakeArm, arm: Arm, sleeps: list[float]) -> None:
    _deployed_app(fake, ["sign"])
    with pytest.raises(HookError, match="azd hooks run postdeploy"):
        postdeploy.run(
            arm,
            Target.from_outputs(_outputs()),
            attempts=3,
            interval=5,
            sleep=sleeps.append,
            say=lambda _: None,
        )
    assert sleeps == [5, 5]
    assert not fake.state.calls("PUT")


def test_failed_provisioning_is_reported(fake: FakeArm, arm: Arm) -> None:
    _deployed_app(fake, ["on_image_pushed"])
    fake.state.final_state = "Failed"
    with pytest.raises(HookError, match="ended in state Failed"):
        postdeploy.run(
            arm, Target.from_outputs(_outputs()), sleep=lambda _: None, say=lambda _: None
        )


def test_outputs_of_an_az_deployment(tmp_path: Path) -> None:
    file = tmp_path / "outputs.json"
    file.write_text(
        json.dumps(
            {
                "FUNCTION_APP_ID": {"type": "String", "value": SITE_ID},
                "EVENT_FUNCTION_NAME": {"type": "String", "value": "on_image_pushed"},
                "EVENT_SUBSCRIPTION_ID": {"type": "String", "value": SUBSCRIPTION_ID},
                "EVENT_SUBSCRIPTION_PROPERTIES": {"type": "Object", "value": WANTED},
            }
        )
    )
    target = Target.from_outputs(outputs({}, str(file)))
    assert target.properties == WANTED and target.site_id == SITE_ID


def test_missing_outputs_say_to_provision_first() -> None:
    with pytest.raises(HookError, match="run `azd provision` first"):
        Target.from_outputs({"FUNCTION_APP_ID": SITE_ID})


# ---------------------------------------------------------------------------------
# pre-down: what azd down cannot see
# ---------------------------------------------------------------------------------


def _assignment(scope: str, principal: str, name: str) -> dict[str, Any]:
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "name": name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {"scope": scope, "principalId": principal, "roleDefinitionId": "x"},
    }


def test_predown_removes_the_subscription_and_only_our_assignments(fake: FakeArm, arm: Arm) -> None:
    fake.state.add(
        {"id": SUBSCRIPTION_ID, "name": "notary-signer-abc", "type": "x", "properties": {}}
    )
    ours = [
        _assignment(REGISTRY_ID, PRINCIPAL, "a1"),
        _assignment(VAULT_ID, PRINCIPAL, "a2"),
        _assignment(VAULT_ID, PRINCIPAL, "a3"),
    ]
    others = [
        _assignment(REGISTRY_ID, "someone-else", "b1"),
        _assignment(f"{SUB_ID}/resourceGroups/rg-shared", PRINCIPAL, "inherited"),
    ]
    for item in ours + others:
        fake.state.add(item)
    values = {
        "EVENT_SUBSCRIPTION_ID": SUBSCRIPTION_ID,
        "IDENTITY_PRINCIPAL_ID": PRINCIPAL,
        "ROLE_ASSIGNMENT_SCOPES": json.dumps([REGISTRY_ID, VAULT_ID]),
    }
    problems = predown.run(arm, dict(values), say=lambda _: None)
    assert problems == []
    assert fake.state.get(SUBSCRIPTION_ID) is None
    for item in ours:
        assert fake.state.get(item["id"]) is None
    for item in others:
        assert fake.state.get(item["id"]) is not None


def test_predown_reports_and_goes_on(fake: FakeArm, arm: Arm) -> None:
    fake.state.faults["DELETE /eventSubscriptions/"] = [(403, {})]
    fake.state.add(
        {"id": SUBSCRIPTION_ID, "name": "notary-signer-abc", "type": "x", "properties": {}}
    )
    fake.state.add(_assignment(REGISTRY_ID, PRINCIPAL, "a1"))
    problems = predown.run(
        arm,
        {
            "EVENT_SUBSCRIPTION_ID": SUBSCRIPTION_ID,
            "IDENTITY_PRINCIPAL_ID": PRINCIPAL,
            "ROLE_ASSIGNMENT_SCOPES": json.dumps([REGISTRY_ID]),
        },
        say=lambda _: None,
    )
    assert len(problems) == 1 and "event subscription" in problems[0] and "403" in problems[0]
    assert fake.state.get(_assignment(REGISTRY_ID, PRINCIPAL, "a1")["id"]) is None


# ---------------------------------------------------------------------------------
# The ARM client
# ---------------------------------------------------------------------------------


def test_throttling_is_retried_after_the_servers_delay(
    fake: FakeArm, arm: Arm, sleeps: list[float]
) -> None:
    _world(fake)
    fake.state.faults["GET /resources$"] = [(429, {"Retry-After": "3"})]
    _preprovision(arm)
    assert sleeps[0] == 3.0


def test_lists_follow_next_link(fake: FakeArm, arm: Arm) -> None:
    for i in range(5):
        fake.state.add(
            {
                "id": resource_id(SUB, "g", "Microsoft.EventGrid/systemTopics", f"t{i}"),
                "name": f"t{i}",
                "type": "Microsoft.EventGrid/systemTopics",
                "properties": {},
            }
        )
    found = list(arm.list(f"{SUB_ID}/providers/Microsoft.EventGrid/systemTopics", "2025-02-15"))
    assert sorted(t["name"] for t in found) == [f"t{i}" for i in range(5)]
    assert len(fake.state.calls("GET", "systemTopics")) == 3


def test_the_token_stays_with_the_endpoint(fake: FakeArm) -> None:
    arm = Arm(lambda: TOKEN, fake.endpoint)
    with pytest.raises(HookError, match="refusing to send the token"):
        arm.request("GET", "https://elsewhere.example/subscriptions/x", "1")
    with pytest.raises(HookError, match="must be an https URL"):
        Arm(lambda: TOKEN, "http://management.example")


def test_a_bad_token_is_an_arm_error(fake: FakeArm) -> None:
    with pytest.raises(HookError, match="HTTP 401 InvalidAuthenticationToken"):
        Arm(lambda: "wrong", fake.endpoint).get(SUB_ID, "2024-03-01")


# ---------------------------------------------------------------------------------
# Wiring: azure.yaml runs them, with nothing but the standard library
# ---------------------------------------------------------------------------------


def test_azure_yaml_runs_the_hooks() -> None:
    text = (ROOT / "azure.yaml").read_text()
    for line in ("  signer:", "    project: .", "    language: python", "    host: function"):
        assert line in text.splitlines(), line
    assert re.search(r'requiredVersions:\n  azd: ">= 1\.24\.1"', text)
    hooks = (("preprovision", "false"), ("postdeploy", "false"), ("predown", "true"))
    for hook, keep_going in hooks:
        section = re.search(rf"  {hook}:\n((?:    .*\n)+)", text)
        assert section, f"azure.yaml has no {hook} hook"
        body = section.group(1)
        assert f"run: python3 -m infra.hooks.{hook}" in body, hook
        assert f"run: python -m infra.hooks.{hook}" in body, hook
        assert body.count(f"continueOnError: {keep_going}") == 2, hook


def test_hooks_need_only_the_standard_library() -> None:
    """azd runs them with the deployer's Python, before anything is installed."""
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import infra.hooks.preprovision, infra.hooks.postdeploy, infra.hooks.predown",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_hooks_command_line_reports_errors_without_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.hooks.preprovision"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("pre-provision: AZURE_SUBSCRIPTION_ID is not set")
    assert "Traceback" not in result.stderr
