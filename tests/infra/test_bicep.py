"""Structure checks on the Bicep templates in infra/.

No Bicep compiler can run here, so these tests parse the templates with pycep-parser
and assert what matters for a deployment that works and cannot hurt what it serves:
teardown deletes only the environment's own resource group, names are per environment,
the shared system topic keeps the identities it has, role definition ids and how each
assignment is named and scoped, the Event Grid subscription (event types, filters,
retries, dead-lettering), the alerts and workbook, the Flex Consumption app,
identity-based storage, no secrets in app settings, and that the app settings are exactly
the ones the function reads (``shared/setting_names.py``). Property names and values are
checked against the Bicep type definitions in test_schema.py.

Every check is a plain function over an :class:`Infra` snapshot, so the mutation tests
at the bottom can feed it a deliberately broken template and prove the check fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from shared.setting_names import PLATFORM_SETTINGS, SIGNER_SETTINGS
from tests.infra.bicep import INFRA, ROOT, Infra, Resource
from tests.infra.bicep import accessor as _accessor
from tests.infra.bicep import path as _path
from tests.infra.schema import check_value

MAIN = "main.bicep"
APP_IDENTITY = "modules/app-identity.bicep"
FUNCTION_APP = "modules/function-app.bicep"
STORAGE = "modules/storage.bicep"
MONITORING = "modules/monitoring.bicep"
ALERTS = "modules/alerts.bicep"
WORKBOOK = "modules/workbook.bicep"
REGISTRY_ACCESS = "modules/registry-access.bicep"
REGISTRY_ROLES = "modules/registry-roles.bicep"
KEYVAULT_ACCESS = "modules/keyvault-access.bicep"
SYSTEM_TOPIC = "modules/system-topic.bicep"
OUTCOME_TOPIC = "modules/outcome-topic-access.bicep"
DEMO_REGISTRY = "modules/demo-registry.bicep"
DEMO_KEYVAULT = "modules/demo-keyvault.bicep"

Json = dict[str, Any]

# Built-in role definition ids, checked against Microsoft's built-in roles list.
KNOWN_ROLES: dict[str, str] = {
    "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "AcrDelete": "c2f4ef07-c644-48eb-af81-4b1b4947fb11",
    "Container Registry Repository Writer": "2a1e307c-b015-4ebd-883e-5b7698a07328",
    "Container Registry Repository Contributor": "2efddaa5-3f1f-4df3-97df-af3f13818f4c",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Certificate User": "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
    "Key Vault Certificates Officer": "a4417e6f-fecd-4de8-b567-7b0420556985",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "EventGrid Data Sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
}

# Which roles each template may grant: a new or missing grant must be a conscious change.
# Key Vault Secrets User is gone: Certificate User's dataActions already include
# secrets/getSecret/action, which is all the "secret" chain mode reads.
EXPECTED_ROLES_PER_FILE: dict[str, set[str]] = {
    MAIN: set(),
    APP_IDENTITY: set(),
    FUNCTION_APP: set(),
    STORAGE: {
        "Storage Blob Data Owner",
        "Storage Blob Data Contributor",
        "Storage Table Data Contributor",
    },
    MONITORING: {"Monitoring Metrics Publisher"},
    ALERTS: set(),
    WORKBOOK: set(),
    REGISTRY_ACCESS: set(),
    REGISTRY_ROLES: {
        "AcrPush",
        "AcrDelete",
        "Container Registry Repository Writer",
        "Container Registry Repository Contributor",
    },
    KEYVAULT_ACCESS: {"Key Vault Crypto User", "Key Vault Certificate User"},
    SYSTEM_TOPIC: set(),
    OUTCOME_TOPIC: {"EventGrid Data Sender"},
    DEMO_REGISTRY: {"AcrPush"},
    DEMO_KEYVAULT: {"Key Vault Certificates Officer"},
}

# Every resource type the templates use, with the one API version allowed for it.
EXPECTED_API_VERSIONS: dict[str, str] = {
    "Microsoft.Resources/resourceGroups": "2024-03-01",
    "Microsoft.Web/sites": "2024-04-01",
    "Microsoft.Web/serverfarms": "2024-04-01",
    "Microsoft.ManagedIdentity/userAssignedIdentities": "2023-01-31",
    "Microsoft.Storage/storageAccounts": "2023-05-01",
    "Microsoft.Storage/storageAccounts/blobServices": "2023-05-01",
    "Microsoft.Storage/storageAccounts/blobServices/containers": "2023-05-01",
    "Microsoft.Storage/storageAccounts/tableServices": "2023-05-01",
    "Microsoft.Storage/storageAccounts/tableServices/tables": "2023-05-01",
    "Microsoft.OperationalInsights/workspaces": "2023-09-01",
    "Microsoft.Insights/components": "2020-02-02",
    "Microsoft.Insights/actionGroups": "2023-01-01",
    "Microsoft.Insights/metricAlerts": "2018-03-01",
    "Microsoft.Insights/scheduledQueryRules": "2023-12-01",
    "Microsoft.Insights/workbooks": "2023-06-01",
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
    "Microsoft.ContainerRegistry/registries": "2025-11-01",
    "Microsoft.KeyVault/vaults": "2023-07-01",
    "Microsoft.EventGrid/systemTopics": "2025-02-15",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions": "2025-02-15",
    "Microsoft.EventGrid/topics": "2025-02-15",
}

# What a module deployed outside the environment's resource group may create there:
# role assignments, and the registry's shared system topic with its dead-letter identity.
SHARED_TYPES = {
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.EventGrid/systemTopics",
    "Microsoft.ManagedIdentity/userAssignedIdentities",
}

# Signer settings that main.bicep must NOT set, and why.
DEV_ONLY_SETTINGS: dict[str, str] = {
    "SIGNER_LOCAL_KEY": "a private key file for local development; Azure signs in Key Vault",
    "SIGNER_LOCAL_CERT_CHAIN": "pairs with SIGNER_LOCAL_KEY; Azure reads the chain from Key Vault",
    "SIGNER_REGISTRY_USERNAME": "basic auth for a local registry; Azure uses Entra ID (entra)",
    "SIGNER_REGISTRY_PASSWORD": "a secret; Azure uses Entra ID, so no password may be deployed",
    "SIGNER_INSECURE_REGISTRY": "plain-HTTP registries exist only locally; ACR is HTTPS-only "
    "and the default (false) must not be overridable from the deployment",
}

# Settings read by the Functions host itself (not by the signer). They are not in
# shared/setting_names.py.
HOST_ONLY_SETTINGS: dict[str, str] = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "where the host sends telemetry; not a secret "
    "because the component has local auth disabled",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "makes the host send telemetry with the "
    "managed identity (Entra ID) instead of the instrumentation key",
    "AzureWebJobsFeatureFlags": "DisableDiagnosticEventLogging: the host's diagnostic-events "
    "table would need table rights on the whole storage account",
}

# Setting names that look like secrets but hold none.
NOT_SECRETS = {"SIGNER_KEY_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING"}
SECRET_NAME = re.compile(r"KEY|PASSWORD|SECRET|TOKEN|CONNECTION_?STRING|SAS", re.IGNORECASE)
SECRET_VALUE = re.compile(
    r"listKeys|listkeys|listSecrets|AccountKey=|SharedAccessKey|SharedAccessSignature|"
    r"primaryKey|secondaryKey|primaryMasterKey|password|InstrumentationKey=",
    re.IGNORECASE,
)
ROLE_LINE = re.compile(r"^\s*(\w+):\s*'([0-9a-f-]{36})'\s*//\s*(.+?)\s*$", re.MULTILINE)
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Event Grid system topic metrics (Azure Monitor supported metrics,
# Microsoft.EventGrid/systemTopics), with the dimensions each one has.
SYSTEM_TOPIC_METRICS: dict[str, set[str]] = {
    "AdvancedFilterEvaluationCount": {"EventSubscriptionName"},
    "DeadLetteredCount": {"DeadLetterReason", "EventSubscriptionName"},
    "DeliveryAttemptFailCount": {"Error", "ErrorType", "EventSubscriptionName"},
    "DeliverySuccessCount": {"EventSubscriptionName"},
    "DestinationProcessingDurationInMs": {"EventSubscriptionName"},
    "DroppedEventCount": {"DropReason", "EventSubscriptionName"},
    "MatchedEventCount": {"EventSubscriptionName"},
    "PublishFailCount": {"ErrorType", "Error"},
    "PublishSuccessCount": set(),
    "PublishSuccessLatencyInMs": set(),
    "ServerDeliverySuccessRate": {"EventSubscriptionName"},
    "UnmatchedEventCount": set(),
}


# ---------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _function(value: Any, kind: str) -> Json:
    assert isinstance(value, dict) and "function" in value, f"expected {kind}(...), got {value}"
    func = value["function"]
    assert func["type"] == kind, f"expected {kind}(...), got {func['type']}"
    return dict(func["parameters"])


def _app_settings(infra: Infra) -> dict[str, Any]:
    site = infra.resource(FUNCTION_APP, "site")
    assert site.body["properties"]["siteConfig"]["appSettings"] == "appSettings"
    passed = infra.module(MAIN, "functionApp").body["params"]["appSettings"]
    assert passed == "appSettings", "main.bicep must pass its appSettings variable"
    entries = infra.variable(MAIN, "appSettings")
    names = [entry["name"] for entry in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"app settings set twice: {duplicates}"
    return {entry["name"]: entry["value"] for entry in entries}


def _role_assignments(infra: Infra) -> Iterator[tuple[str, Resource]]:
    for path in sorted(infra.texts):
        for res in infra.resources(path).values():
            if res.type == "Microsoft.Authorization/roleAssignments":
                yield path, res


def _module_file(base: str, module_path: str) -> str:
    parent = base.rsplit("/", 1)[0] if "/" in base else ""
    return f"{parent}/{module_path}" if parent else module_path


def _created_types(infra: Infra, path: str) -> set[str]:
    """Types a template creates (not `existing`), its modules' included."""
    types = {r.type for r in infra.resources(path).values() if not r.existing}
    for module in infra.modules(path).values():
        types |= _created_types(infra, _module_file(path, module.path))
    return types


# ---------------------------------------------------------------------------------
# Checks (each raises AssertionError with a reason)
# ---------------------------------------------------------------------------------


def check_api_versions(infra: Infra) -> None:
    for path in sorted(infra.texts):
        for res in infra.resources(path).values():
            assert res.type in EXPECTED_API_VERSIONS, f"{path}: unexpected type {res.type}"
            assert res.api_version == EXPECTED_API_VERSIONS[res.type], (
                f"{path}: {res.symbol} uses {res.type}@{res.api_version}, "
                f"expected {EXPECTED_API_VERSIONS[res.type]}"
            )
            assert "preview" not in res.api_version, f"{path}: {res.symbol} uses a preview API"


def check_teardown_is_contained(infra: Infra) -> None:
    """azd down deletes the groups the deployment created: that must be rg-<env> alone."""
    doc = infra.doc(MAIN)
    assert doc["globals"]["scope"]["value"] == "subscription", (
        "main.bicep must target the subscription"
    )
    resources = infra.resources(MAIN)
    assert {r.type for r in resources.values()} == {"Microsoft.Resources/resourceGroups"}, (
        "main.bicep may declare only its own resource group"
    )
    rg = resources["rg"]
    assert rg.body["name"] == "groupName"
    assert infra.variable(MAIN, "groupName")["operator"]["operands"]["true_value"] == (
        "rg-${environmentName}"
    ), "the default resource group must be rg-<environmentName>"
    assert "azd-env-name" in _text(infra.variable(MAIN, "allTags"))
    assert rg.body["tags"] == "allTags"

    outside = {}
    for module in infra.modules(MAIN).values():
        scope = module.body.get("scope")
        if scope == "rg":
            continue
        function = _function(scope, "resource_group")
        outside[module.symbol] = function["resource_group_name"]
        created = _created_types(infra, module.path)
        assert created <= SHARED_TYPES, (
            f"{module.symbol} creates {sorted(created - SHARED_TYPES)} outside rg-<environment>"
        )
    assert outside == {
        "registryAccess": "registryGroup",
        "keyVaultAccess": "keyVaultGroup",
        "outcomeTopicAccess": "outcomeTopicGroup",
        "events": "topicGroup",
    }, f"unexpected modules outside the environment's group: {outside}"
    # A demo registry or vault is created in the environment's group, and so goes with it.
    for symbol in ("demoRegistry", "demoKeyVault"):
        assert infra.module(MAIN, symbol).body["scope"] == "rg"
    for name, demo in (("registryGroup", "createRegistry"), ("keyVaultGroup", "createKeyVault")):
        operands = infra.variable(MAIN, name)["operator"]["operands"]
        assert operands["condition"] == demo and operands["true_value"] == "groupName"


def check_names_are_per_environment(infra: Infra) -> None:
    """Nothing shared (deployments, the subscription) may be named the same in two envs."""
    token = _function(infra.variable(MAIN, "resourceToken"), "to_lower")["string_to_change"]
    assert "environmentName" in _text(token), "resourceToken must derive from the environment"
    assert "resourceToken" in _text(infra.variable(MAIN, "deploymentPrefix"))
    for module in infra.modules(MAIN).values():
        assert str(module.body["name"]).startswith("${deploymentPrefix}-"), (
            f"nested deployment {module.symbol} must be named per environment"
        )
    for path in infra.texts:
        if path == MAIN:
            continue
        params = set(infra.doc(path).get("parameters", {}))
        for module in infra.modules(path).values():
            assert module.body["name"] in params, (
                f"{path}: nested deployment {module.symbol} must take its name from main.bicep"
            )
    assert "resourceToken" in _text(infra.variable(MAIN, "eventSubscriptionName"))
    # The shared dead-letter identity is named after the topic, the same for everyone.
    assert "topicName" in _text(
        infra.module(MAIN, "events").body["params"]["deadLetterIdentityName"]
    )


def check_topic_keeps_its_identities(infra: Infra) -> None:
    """An update of an existing topic adds the dead-letter identity to the ones it has."""
    topic = infra.resource(SYSTEM_TOPIC, "systemTopic")
    assert topic.body["properties"]["topicType"] == "Microsoft.ContainerRegistry.Registries"
    assert topic.body["properties"]["source"] == "registryId"
    identity = topic.body["identity"]
    assignments = _function(identity["userAssignedIdentities"], "union")
    assert assignments["arg_1"] == "existingUserIdentities", (
        "the topic's identities must be the existing ones plus the dead-letter identity"
    )
    assert "deadLetterIdentity" in _text(assignments["arg_2"])
    assert isinstance(identity["type"], dict), "a system-assigned identity must be kept"
    kind = identity["type"]["operator"]["operands"]
    assert kind["condition"] == "keepSystemAssigned", "a system-assigned identity must be kept"
    assert kind["true_value"] == "SystemAssigned, UserAssigned"
    existing = infra.variable(SYSTEM_TOPIC, "existingUserIdentities")
    assert "existingSystemTopic" in _text(existing) and "userAssignedIdentities" in _text(existing)
    assert "existingSystemTopic" in _text(infra.variable(SYSTEM_TOPIC, "keepSystemAssigned"))
    tags = topic.body["tags"]["operator"]["operands"]
    assert tags["condition"] == "topicExists" and "existingSystemTopic" in _text(tags["true_value"])
    # The hook reads the deployed topic (infra/hooks/preprovision.py) into this parameter.
    params = infra.module(MAIN, "events").body["params"]
    assert params["existingSystemTopic"] == "existingSystemTopic"
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert given["existingSystemTopic"]["value"] == "${SIGNER_SYSTEM_TOPIC_CURRENT}"


def check_role_assignments(infra: Infra) -> None:
    granted: dict[str, set[str]] = {path: set() for path in infra.texts}
    for path, res in _role_assignments(infra):
        props = res.body["properties"]
        role_id = props["roleDefinitionId"]["function"]
        assert role_id["type"] == "subscription_resource_id", f"{path}: {res.symbol}"
        params = role_id["parameters"]
        assert params["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        role_expr = params["resource_name_1"]
        operands = role_expr["operator"]["operands"]
        table, key = operands["operand_1"], operands["operand_2"]
        guid = infra.variable(path, table)[key]

        # The role's name sits in a comment next to its id; both must match Azure's.
        named = {k: (g, n) for k, g, n in ROLE_LINE.findall(infra.texts[path])}
        assert key in named, f"{path}: role id {key!r} has no '// <role name>' comment"
        commented_guid, role_name = named[key]
        assert commented_guid == guid
        assert role_name in KNOWN_ROLES, f"{path}: unknown role name {role_name!r}"
        assert guid == KNOWN_ROLES[role_name], (
            f"{path}: {role_name} must be {KNOWN_ROLES[role_name]}, not {guid}"
        )
        granted[path].add(role_name)

        # Named guid(scope, principal, role), scoped to that same resource.
        name = res.body["name"]["function"]
        assert name["type"] == "guid", f"{path}: {res.symbol} is not named with guid()"
        scope = res.body["scope"]
        assert isinstance(scope, str), f"{path}: {res.symbol} has no resource scope"
        assert name["parameters"]["base_string"] == _accessor(scope, "id"), (
            f"{path}: {res.symbol} name must start with {scope}.id"
        )
        assert name["parameters"]["extra_string_1"] == props["principalId"], (
            f"{path}: {res.symbol} name must use the principal it grants"
        )
        assert name["parameters"]["extra_string_2"] == role_expr, (
            f"{path}: {res.symbol} name must use the role it grants"
        )
        if path not in (DEMO_REGISTRY, DEMO_KEYVAULT):
            # Managed identities: principalType avoids replication-delay failures.
            assert props.get("principalType") == "ServicePrincipal", f"{path}: {res.symbol}"

    for path, expected in EXPECTED_ROLES_PER_FILE.items():
        assert granted.get(path, set()) == expected, (
            f"{path}: grants {sorted(granted.get(path, set()))}, expected {sorted(expected)}"
        )
    # No role GUID anywhere that is not a known role (e.g. in a stray variable).
    for path, text in infra.texts.items():
        for guid in GUID.findall(text):
            assert guid in KNOWN_ROLES.values(), f"{path}: unexplained GUID {guid}"


def check_conditional_grants(infra: Infra) -> None:
    """Registry roles follow the registry's own mode; delete rights only for tag clean-up."""
    kv = infra.resources(KEYVAULT_ACCESS)
    assert all(res.condition is None for res in kv.values()), "Key Vault roles are unconditional"

    acr = infra.resources(REGISTRY_ROLES)
    for symbol in ("acrDelete", "repositoryContributor"):
        assert "grantDelete" in _text(acr[symbol].condition), f"{symbol} must need grantDelete"
    for symbol in ("acrPush", "acrDelete"):
        assert "usesRepositoryPermissions" in _text(acr[symbol].condition)
    assert _text(acr["acrPush"].condition).count("grantDelete") == 0
    roles = infra.module(REGISTRY_ACCESS, "roles").body["params"]
    assert roles["usesRepositoryPermissions"] == {
        "operator": {
            "type": "equals",
            "operands": {
                "operand_1": "roleAssignmentMode",
                "operand_2": "AbacRepositoryPermissions",
            },
        }
    }, "the registry's roleAssignmentMode must decide the roles"
    assert "roleAssignmentMode" in _text(infra.variable(REGISTRY_ACCESS, "roleAssignmentMode"))
    acr_params = infra.module(MAIN, "registryAccess").body["params"]
    assert acr_params["grantDelete"] == "referrersTagCleanup", (
        "delete rights must follow referrersTagCleanup"
    )

    outcome = infra.module(MAIN, "outcomeTopicAccess")
    assert outcome.condition is not None and "outcomeTopicName" in _text(outcome.condition)


def check_conditional_outputs_are_safe(infra: Infra) -> None:
    """A conditional module's outputs are read with .? (pycep drops the ?, so read text)."""
    for path in sorted(infra.texts):
        for module in infra.modules(path).values():
            if module.condition is None:
                continue
            unsafe = re.findall(rf"\b{module.symbol}\.outputs\b", infra.texts[path])
            assert not unsafe, f"{path}: {module.symbol}.outputs read without .? ({len(unsafe)}x)"


def check_event_subscription(infra: Infra) -> None:
    props = infra.variable(MAIN, "eventSubscriptionProperties")
    destination = props["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert destination["properties"]["resourceId"] == (
        "${functionApp.outputs.id}/functions/${eventFunctionName}"
    )
    assert infra.variable(MAIN, "eventFunctionName") == "on_image_pushed", (
        "the subscription must target the on_image_pushed function"
    )
    assert destination["properties"]["maxEventsPerBatch"] == 1
    assert props["eventDeliverySchema"] == "EventGridSchema"

    flt = props["filter"]
    event_types = sorted(flt["includedEventTypes"])
    assert event_types == [
        "Microsoft.ContainerRegistry.ChartPushed",
        "Microsoft.ContainerRegistry.ImagePushed",
    ], f"wrong event types: {event_types}"
    filters = flt["advancedFilters"]["operator"]
    assert filters["type"] == "conditional"
    assert filters["operands"]["true_value"] == []
    expected_filter = {
        "operatorType": "StringBeginsWith",
        "key": "data.target.repository",
        "values": "repositoryPrefixes",
    }
    assert filters["operands"]["false_value"] == [expected_filter], (
        "advanced filter must be StringBeginsWith on data.target.repository"
    )

    retry = props.get("retryPolicy")
    assert retry == {
        "maxDeliveryAttempts": "eventMaxDeliveryAttempts",
        "eventTimeToLiveInMinutes": "eventTimeToLiveInMinutes",
    }, "retry policy missing or not parameterised"

    dead = props.get("deadLetterWithResourceIdentity") or {}
    assert dead, "the subscription has no dead-letter destination"
    assert dead["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentity": _path("events", "outputs", "deadLetterIdentityId"),
    }
    destination = dead["deadLetterDestination"]
    assert destination["endpointType"] == "StorageBlob"
    assert destination["properties"] == {
        "resourceId": _path("storage", "outputs", "id"),
        "blobContainerName": _path("storage", "outputs", "deadLetterContainerName"),
    }

    # The post-deploy hook PUTs exactly this, at the per-environment id.
    outputs = infra.doc(MAIN)["outputs"]
    assert outputs["EVENT_SUBSCRIPTION_PROPERTIES"]["value"] == "eventSubscriptionProperties"
    assert outputs["EVENT_SUBSCRIPTION_ID"]["value"] == (
        "${events.outputs.topicId}/eventSubscriptions/${eventSubscriptionName}"
    )
    assert outputs["EVENT_SUBSCRIPTION_NAME"]["value"] == "eventSubscriptionName"
    findings = check_value(
        infra,
        file=MAIN,
        value=props,
        resource_type="Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15",
        property_path=("properties",),
        where="main.bicep: eventSubscriptionProperties",
    )
    assert not findings, "\n".join(map(str, findings))
    # No template creates it, and no flag remembers whether it exists.
    for path in infra.texts:
        for res in infra.resources(path).values():
            assert res.type != "Microsoft.EventGrid/systemTopics/eventSubscriptions", path
        assert "deployEventSubscription" not in infra.texts[path], path

    # The dead-letter container exists and only the dead-letter identity may write to it.
    storage = infra.resources(STORAGE)
    assert storage["deadLetterContainer"].body["name"] == "deadLetterContainerName"
    writer = storage["eventsDeadLetterWriter"]
    assert writer.body["scope"] == "deadLetterContainer"
    assert writer.body["properties"]["principalId"] == "eventsPrincipalId"
    storage_params = infra.module(MAIN, "storage").body["params"]
    assert storage_params["eventsPrincipalId"] == _path(
        "events", "outputs", "deadLetterPrincipalId"
    )


def check_alerts(infra: Infra) -> None:
    alerts = infra.resources(ALERTS)
    group = alerts["actionGroup"].body["properties"]
    receivers = group["emailReceivers"]["operator"]["operands"]
    assert _function(receivers["condition"], "empty")["item_to_test"] == "alertEmail"
    assert receivers["false_value"][0]["emailAddress"] == "alertEmail", (
        "the action group's receiver must be the alertEmail parameter"
    )
    assert infra.module(MAIN, "alerts").body["params"]["alertEmail"] == "alertEmail"

    metric_alerts = {
        res.body["properties"]["criteria"]["allOf"][0]["metricName"]: res
        for res in alerts.values()
        if res.type == "Microsoft.Insights/metricAlerts"
    }
    assert set(metric_alerts) == {"DeadLetteredCount", "DroppedEventCount"}
    dimension = infra.variable(ALERTS, "subscriptionFilter")[0]
    assert dimension["name"] == "EventSubscriptionName" and dimension["operator"] == "Include"
    assert "eventSubscriptionName" in _text(dimension["values"])
    for metric, res in metric_alerts.items():
        props = res.body["properties"]
        criterion = props["criteria"]["allOf"][0]
        assert props["scopes"] == ["systemTopicId"], f"{metric} must watch the system topic"
        assert criterion["metricNamespace"] == "Microsoft.EventGrid/systemTopics"
        assert criterion["dimensions"] == "subscriptionFilter", f"{metric}: this subscription only"
        assert "EventSubscriptionName" in SYSTEM_TOPIC_METRICS[metric]
        assert criterion["operator"] == "GreaterThan" and criterion["threshold"] == 0
        assert props["actions"] == [{"actionGroupId": _accessor("actionGroup", "id")}]

    failures = alerts["signingFailures"].body["properties"]
    assert failures["scopes"] == ["applicationInsightsId"]
    query = _function(failures["criteria"]["allOf"][0]["query"], "load_text_content")
    assert query["file_path"] == "../monitoring/signing-failures.kql"
    assert failures["actions"] == {"actionGroups": [_accessor("actionGroup", "id")]}

    params = infra.module(MAIN, "alerts").body["params"]
    assert params["systemTopicId"] == _path("events", "outputs", "topicId")
    assert params["eventSubscriptionName"] == "eventSubscriptionName", (
        "the alerts must watch the subscription the hook creates"
    )
    assert params["applicationInsightsId"] == _path("monitoring", "outputs", "id")


def _workbook_replacements(infra: Infra) -> list[str]:
    """The placeholders workbook.bicep replaces in its content, first replacement first."""
    found: list[str] = []
    node = infra.variable(WORKBOOK, "content")
    variables = infra.doc(WORKBOOK)["variables"]
    while True:
        while isinstance(node, str) and node in variables:
            node = variables[node]["value"]
        if not (isinstance(node, dict) and node.get("function", {}).get("type") == "replace"):
            break
        params = node["function"]["parameters"]
        found.append(params["old_string"])
        node = params["original_string"]
    assert _function(node, "load_text_content")["file_path"] == "../monitoring/signer-workbook.json"
    return found[::-1]


def check_workbook(infra: Infra) -> None:
    content = (INFRA / "monitoring" / "signer-workbook.json").read_text()
    workbook = json.loads(content)
    assert workbook["version"] == "Notebook/1.0"
    placeholders = set(re.findall(r"__[A-Z_]+__", content))
    replaced = _workbook_replacements(infra)
    assert set(replaced) == placeholders, f"unreplaced: {sorted(placeholders - set(replaced))}"
    assert replaced.index("__EVENT_SUBSCRIPTION_UPPER__") < replaced.index(
        "__EVENT_SUBSCRIPTION__"
    ), "the longer placeholder must be replaced first"

    titles = {item["content"].get("title"): item for item in workbook["items"]}
    for title in ("Signatures per hour", "Outcomes by reason", "Latency per invocation (ms)"):
        item = titles[title]
        assert item["type"] == 3 and item["content"]["resourceType"] == (
            "microsoft.insights/components"
        )
    metrics = [item for item in workbook["items"] if item["type"] == 10]
    named = set()
    for item in metrics:
        body = item["content"]
        assert body["resourceIds"] == ["__SYSTEM_TOPIC_ID__"]
        assert body["filters"][0]["key"] == "EventSubscriptionName"
        for metric in body["metrics"]:
            namespace, _, name = metric["metric"].partition("--")
            assert namespace == "microsoft.eventgrid/systemtopics" and name in SYSTEM_TOPIC_METRICS
            split = metric.get("splitBy")
            assert split is None or split in SYSTEM_TOPIC_METRICS[name], f"{name} by {split}"
            named.add(name)
    assert {"DeadLetteredCount", "DroppedEventCount"} <= named, "dead-letters must be shown"

    resource = infra.resource(WORKBOOK, "workbook").body
    assert resource["properties"]["serializedData"] == "content"
    assert _function(resource["name"], "guid")


def check_function_app(infra: Infra) -> None:
    plan = infra.resource(FUNCTION_APP, "plan")
    assert plan.body["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan.body["properties"]["reserved"] is True

    site = infra.resource(FUNCTION_APP, "site")
    assert site.body["kind"] == "functionapp,linux"
    assert site.body["identity"]["type"] == "UserAssigned"
    props = site.body["properties"]
    assert props["serverFarmId"] == _accessor("plan", "id")
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["ftpsState"] == "Disabled"
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    config = props["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}, "runtime must be Python 3.11"
    assert set(config["scaleAndConcurrency"]) == {"maximumInstanceCount", "instanceMemoryMB"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }, "deployment storage must be read with the app's user-assigned identity"
    assert infra.module(MAIN, "functionApp").body["params"]["identityId"] == _path(
        "appIdentity", "outputs", "id"
    )
    assert "azd-service-name" in _text(site.body["tags"]) and "signer" in _text(site.body["tags"])

    # Flex Consumption's documented range for the maximum instance count.
    for path in (MAIN, FUNCTION_APP):
        decorators = infra.doc(path)["parameters"]["maximumInstanceCount"]["decorators"]
        bounds = {
            d["type"]: d["argument"] for d in decorators if d["type"] in ("min_value", "max_value")
        }
        assert bounds == {"min_value": 40, "max_value": 1000}, (
            f"{path}: maximumInstanceCount {bounds}"
        )

    outputs = infra.doc(MAIN)["outputs"]
    assert outputs["FUNCTION_APP_NAME"]["value"] == _path("functionApp", "outputs", "name")
    assert outputs["FUNCTION_APP_ID"]["value"] == _path("functionApp", "outputs", "id")
    principal = outputs["IDENTITY_PRINCIPAL_ID"]["value"]
    assert principal == _path("appIdentity", "outputs", "principalId")
    host = "https://${functionApp.outputs.defaultHostName}"
    assert outputs["SIGN_ENDPOINT"]["value"] == f"{host}/api/sign"
    assert outputs["STATUS_ENDPOINT"]["value"] == f"{host}/api/status"
    assert outputs["AZURE_RESOURCE_GROUP"]["value"] == _accessor("rg", "name")


def check_no_secrets_in_settings(infra: Infra) -> None:
    for name, value in _app_settings(infra).items():
        if name not in NOT_SECRETS:
            assert not SECRET_NAME.search(name), f"app setting {name} looks like a secret"
        assert not SECRET_VALUE.search(_text(value)), f"app setting {name} carries a key: {value}"
    # The App Insights connection string is harmless only while local auth is off.
    insights = infra.resource(MONITORING, "applicationInsights")
    assert insights.body["properties"]["DisableLocalAuth"] is True
    # And no storage account in this deployment accepts shared keys at all.
    account = infra.resource(STORAGE, "storage")
    assert account.body["properties"]["allowSharedKeyAccess"] is False, "shared keys must be off"


def check_identity_based_storage(infra: Infra) -> None:
    settings = _app_settings(infra)
    assert "AzureWebJobsStorage" not in settings, "AzureWebJobsStorage is a connection string"
    assert "AzureWebJobsStorage__accountName" in settings or (
        "AzureWebJobsStorage__blobServiceUri" in settings
        and "AzureWebJobsStorage__tableServiceUri" in settings
    )
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    client_id = _path("appIdentity", "outputs", "clientId")
    assert settings["AzureWebJobsStorage__clientId"] == client_id
    assert settings["SIGNER_MANAGED_IDENTITY_CLIENT_ID"] == client_id
    assert settings["SIGNER_REGISTRY_AUTH"] == "entra"
    assert settings["AzureWebJobsFeatureFlags"] == "DisableDiagnosticEventLogging", (
        "the host's diagnostic-events table has no permission; the feature must be off"
    )


def check_settings_match_function(infra: Infra) -> None:
    """main.bicep sets exactly the settings the function reads, minus the dev-only ones."""
    deployed = set(_app_settings(infra))
    signer, platform = set(SIGNER_SETTINGS), set(PLATFORM_SETTINGS)
    dev_only, host_only = set(DEV_ONLY_SETTINGS), set(HOST_ONLY_SETTINGS)

    stale_dev_only = dev_only - signer
    assert not stale_dev_only, f"dev-only names unknown to the function: {sorted(stale_dev_only)}"
    unknown = deployed - signer - platform - host_only
    assert not unknown, f"main.bicep sets settings the function never reads: {sorted(unknown)}"
    forbidden = deployed & dev_only
    assert not forbidden, f"main.bicep sets development-only settings: {sorted(forbidden)}"
    missing = signer - dev_only - deployed
    assert not missing, f"main.bicep does not set: {sorted(missing)}"
    assert host_only <= deployed, f"missing host settings: {sorted(host_only - deployed)}"


CHECKS: list[Callable[[Infra], None]] = [
    check_api_versions,
    check_teardown_is_contained,
    check_names_are_per_environment,
    check_topic_keeps_its_identities,
    check_role_assignments,
    check_conditional_grants,
    check_conditional_outputs_are_safe,
    check_event_subscription,
    check_alerts,
    check_workbook,
    check_function_app,
    check_no_secrets_in_settings,
    check_identity_based_storage,
    check_settings_match_function,
]


# ---------------------------------------------------------------------------------
# Tests on the real templates
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def infra() -> Infra:
    return Infra.load()


def test_all_expected_templates_exist(infra: Infra) -> None:
    assert set(EXPECTED_ROLES_PER_FILE) == set(infra.texts)


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep"))
)
def test_template_parses(infra: Infra, path: str) -> None:
    doc = infra.doc(path)
    assert doc.get("resources") or doc.get("modules"), f"{path} declares nothing"


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_templates(infra: Infra, check: Callable[[Infra], None]) -> None:
    check(infra)


def test_modules_referenced_exist(infra: Infra) -> None:
    for path in infra.texts:
        for module in infra.modules(path).values():
            assert (INFRA / _module_file(path, module.path)).is_file(), module.path


def test_parameters_file_matches_main(infra: Infra) -> None:
    """azd's parameter file names only parameters main.bicep declares, and all required ones."""
    declared = infra.doc(MAIN)["parameters"]
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(declared), sorted(set(given) - set(declared))
    required = {name for name, p in declared.items() if p["default"] is None}
    assert required <= set(given), sorted(required - set(given))
    values = {name: entry["value"] for name, entry in given.items()}
    # The hooks and the docs use these variable names.
    assert values["resourceGroupName"] == "${SIGNER_RESOURCE_GROUP=}"
    assert values["alertEmail"] == "${SIGNER_ALERT_EMAIL=}"
    # AZURE_RESOURCE_GROUP is an output here: mapping it back would let a stale value
    # from a resource-group-scoped environment name an existing group to take over.
    assert "AZURE_RESOURCE_GROUP" not in json.dumps(given)


def test_certificate_policy_is_notary_conformant() -> None:
    policy = json.loads((INFRA / "keyvault" / "notary-signing-cert-policy.json").read_text())
    x509 = policy["x509CertificateProperties"]
    assert x509["keyUsage"] == ["digitalSignature"]
    assert x509["ekus"] == ["1.3.6.1.5.5.7.3.3"]  # codeSigning
    assert x509["subject"].startswith("CN=")
    assert policy["keyProperties"] == {
        "exportable": False,
        "keySize": 2048,
        "keyType": "RSA",
        "reuseKey": True,
    }
    assert policy["issuerParameters"]["name"] == "Self"


def test_checkov_skips_have_reasons(infra: Infra) -> None:
    for path, text in infra.texts.items():
        for match in re.finditer(r"checkov:skip=([A-Z0-9_]+)(:[^\n]*)?", text):
            reason = (match.group(2) or "").lstrip(":").strip()
            assert len(reason) > 20, f"{path}: skip of {match.group(1)} needs a written reason"


def test_no_stale_parameters_remain() -> None:
    """Names the old resource-group-scoped template used must not linger anywhere."""
    for gone in ("SIGNER_DEPLOY_EVENT_SUBSCRIPTION", "SIGNER_REGISTRY_ABAC", "grantSecretsUser"):
        for path in [*INFRA.rglob("*.bicep"), INFRA / "main.parameters.json", ROOT / "azure.yaml"]:
            assert gone not in path.read_text(), f"{path}: {gone}"


# ---------------------------------------------------------------------------------
# The checks can fail: each mutation breaks one thing a check must notice
# ---------------------------------------------------------------------------------


def lit(text: str) -> str:
    return re.escape(text)


STORAGE_KEY_SETTING = """{
    name: 'AzureWebJobsStorage'
    value: 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc=='
  }
  {
    name: 'SIGNER_REGISTRY_AUTH'"""


@dataclass(frozen=True)
class Mutation:
    path: str
    pattern: str
    new: str
    check: Callable[[Infra], None]
    expect: str


MUTATIONS: dict[str, Mutation] = {
    "resource-group scope again": Mutation(
        MAIN,
        lit("targetScope = 'subscription'"),
        "targetScope = 'resourceGroup'",
        check_teardown_is_contained,
        "must target the subscription",
    ),
    "storage in the registry's group": Mutation(
        MAIN,
        lit("name: '${deploymentPrefix}-storage'\n  scope: rg"),
        "name: '${deploymentPrefix}-storage'\n  scope: resourceGroup(registryGroup)",
        check_teardown_is_contained,
        "creates .*Microsoft.Storage/storageAccounts.* outside rg-<environment>",
    ),
    "demo registry outside the environment's group": Mutation(
        MAIN,
        lit("name: '${deploymentPrefix}-demo-registry'\n  scope: rg"),
        "name: '${deploymentPrefix}-demo-registry'\n  scope: resourceGroup(registryGroup)",
        check_teardown_is_contained,
        "ContainerRegistry/registries",
    ),
    "fixed nested deployment name": Mutation(
        MAIN,
        lit("name: '${deploymentPrefix}-registry-access'"),
        "name: 'signer-registry-access'",
        check_names_are_per_environment,
        "registryAccess must be named per environment",
    ),
    "fixed nested name inside a module": Mutation(
        REGISTRY_ACCESS,
        lit("name: rolesDeploymentName"),
        "name: 'signer-registry-roles'",
        check_names_are_per_environment,
        "must take its name from main.bicep",
    ),
    "fixed subscription name": Mutation(
        MAIN,
        lit("var eventSubscriptionName = 'notary-signer-${resourceToken}'"),
        "var eventSubscriptionName = 'notary-signer'",
        check_names_are_per_environment,
        "resourceToken",
    ),
    "topic identity replaced": Mutation(
        SYSTEM_TOPIC,
        r"userAssignedIdentities: union\(existingUserIdentities, \{(.*?)\}\)",
        r"userAssignedIdentities: {\1}",
        check_topic_keeps_its_identities,
        "union",
    ),
    "system-assigned identity dropped": Mutation(
        SYSTEM_TOPIC,
        lit("type: keepSystemAssigned ? 'SystemAssigned, UserAssigned' : 'UserAssigned'"),
        "type: 'UserAssigned'",
        check_topic_keeps_its_identities,
        "a system-assigned identity must be kept",
    ),
    "wrong AcrPush id": Mutation(
        REGISTRY_ROLES,
        lit("8311e382-0749-4cb8-b61a-304f252e45ec"),
        "8311e382-0749-4cb8-b61a-304f252e45ed",
        check_role_assignments,
        "AcrPush must be",
    ),
    "role name comment disagrees": Mutation(
        KEYVAULT_ACCESS,
        lit("// Key Vault Crypto User"),
        "// Key Vault Crypto Officer",
        check_role_assignments,
        "unknown role name",
    ),
    "assignment named without the principal": Mutation(
        STORAGE,
        lit("guid(storage.id, appPrincipalId, roles.storageBlobDataOwner)"),
        "guid(storage.id, roles.storageBlobDataOwner)",
        check_role_assignments,
        "must use the principal",
    ),
    "assignment named after another scope": Mutation(
        STORAGE,
        lit("guid(ledgerTable.id,"),
        "guid(storage.id,",
        check_role_assignments,
        "must start with ledgerTable.id",
    ),
    "role swapped behind a correct-looking name": Mutation(
        MONITORING,
        lit("// Monitoring Metrics Publisher"),
        "// Storage Blob Data Owner",
        check_role_assignments,
        "Storage Blob Data Owner must be",
    ),
    "ABAC decided by a flag again": Mutation(
        REGISTRY_ACCESS,
        lit("usesRepositoryPermissions: roleAssignmentMode == 'AbacRepositoryPermissions'"),
        "usesRepositoryPermissions: false",
        check_conditional_grants,
        "roleAssignmentMode must decide",
    ),
    "delete granted without clean-up": Mutation(
        MAIN,
        lit("grantDelete: referrersTagCleanup"),
        "grantDelete: true",
        check_conditional_grants,
        "delete rights must follow",
    ),
    "conditional output read without .?": Mutation(
        MAIN,
        lit("outcomeTopicAccess.?outputs.endpoint"),
        "outcomeTopicAccess.outputs.endpoint",
        check_conditional_outputs_are_safe,
        "outcomeTopicAccess.outputs read without",
    ),
    "dead-letter destination missing": Mutation(
        MAIN,
        lit("deadLetterWithResourceIdentity: {"),
        "deadLetterIgnored: {",
        check_event_subscription,
        "no dead-letter destination",
    ),
    "ChartPushed not delivered": Mutation(
        MAIN,
        lit("'Microsoft.ContainerRegistry.ChartPushed'"),
        "'Microsoft.ContainerRegistry.ImageDeleted'",
        check_event_subscription,
        "wrong event types",
    ),
    "filter on the wrong field": Mutation(
        MAIN,
        lit("key: 'data.target.repository'"),
        "key: 'subject'",
        check_event_subscription,
        "advanced filter",
    ),
    "wrong function": Mutation(
        MAIN,
        lit("'on_image_pushed'"),
        "'on_push'",
        check_event_subscription,
        "on_image_pushed",
    ),
    "no retry policy": Mutation(
        MAIN,
        lit("retryPolicy: {"),
        "retryIgnored: {",
        check_event_subscription,
        "retry policy",
    ),
    "subscription property misspelled": Mutation(
        MAIN,
        lit("eventDeliverySchema: 'EventGridSchema'"),
        "eventDeliverySchema: 'EventGridSchema'\n  eventDeliveryMode: 'push'",
        check_event_subscription,
        "'eventDeliveryMode' does not exist",
    ),
    "alert on another metric": Mutation(
        ALERTS,
        lit("metricName: 'DroppedEventCount'"),
        "metricName: 'DroppedEvents'",
        check_alerts,
        "DroppedEvents",
    ),
    "alerts on every subscription of the topic": Mutation(
        ALERTS,
        lit("dimensions: subscriptionFilter"),
        "dimensions: []",
        check_alerts,
        "this subscription only",
    ),
    "alerts watching another subscription name": Mutation(
        MAIN,
        lit("    eventSubscriptionName: eventSubscriptionName\n    applicationInsightsId"),
        "    eventSubscriptionName: 'notary-signer'\n    applicationInsightsId",
        check_alerts,
        "must watch the subscription the hook creates",
    ),
    "workbook placeholder left in": Mutation(
        WORKBOOK,
        lit("replace(template, '__APPLICATION_INSIGHTS_ID__', applicationInsightsId)"),
        "template",
        check_workbook,
        "unreplaced: \\['__APPLICATION_INSIGHTS_ID__'\\]",
    ),
    "storage key in settings": Mutation(
        MAIN,
        r"\{\s*name: 'SIGNER_REGISTRY_AUTH'",
        STORAGE_KEY_SETTING,
        check_no_secrets_in_settings,
        "carries a key",
    ),
    "connection string instead of identity": Mutation(
        MAIN,
        r"\{\s*name: 'SIGNER_REGISTRY_AUTH'",
        STORAGE_KEY_SETTING,
        check_identity_based_storage,
        "is a connection string",
    ),
    "diagnostic events left on": Mutation(
        MAIN,
        lit("value: 'DisableDiagnosticEventLogging'"),
        "value: ''",
        check_identity_based_storage,
        "feature must be off",
    ),
    "password deployed": Mutation(
        MAIN,
        lit("name: 'SIGNER_USER_METADATA'"),
        "name: 'SIGNER_REGISTRY_PASSWORD'",
        check_no_secrets_in_settings,
        "looks like a secret",
    ),
    "shared keys allowed": Mutation(
        STORAGE,
        lit("allowSharedKeyAccess: false"),
        "allowSharedKeyAccess: true",
        check_no_secrets_in_settings,
        "shared keys must be off",
    ),
    "dev-only setting deployed": Mutation(
        MAIN,
        lit("name: 'SIGNER_EXPIRY'"),
        "name: 'SIGNER_LOCAL_KEY'",
        check_settings_match_function,
        "development-only",
    ),
    "stale setting name": Mutation(
        MAIN,
        lit("name: 'SIGNER_USER_METADATA'"),
        "name: 'SIGNER_METADATA'",
        check_settings_match_function,
        "never reads",
    ),
    "required setting missing": Mutation(
        MAIN,
        r"\{\s*name: 'SIGNER_KEY_ID'.*?\}\s*\{",
        "{",
        check_settings_match_function,
        r"does not set: \['SIGNER_KEY_ID'\]",
    ),
    "wrong runtime": Mutation(
        FUNCTION_APP,
        lit("version: '3.11'"),
        "version: '3.12'",
        check_function_app,
        "Python 3.11",
    ),
    "deployment storage without identity": Mutation(
        FUNCTION_APP,
        lit("type: 'UserAssignedIdentity'"),
        "type: 'StorageAccountConnectionString'",
        check_function_app,
        "user-assigned identity",
    ),
    "instance count below Flex's minimum": Mutation(
        MAIN,
        lit("@minValue(40)"),
        "@minValue(1)",
        check_function_app,
        "maximumInstanceCount",
    ),
    "API version drift": Mutation(
        SYSTEM_TOPIC,
        lit("Microsoft.EventGrid/systemTopics@2025-02-15"),
        "Microsoft.EventGrid/systemTopics@2022-06-15",
        check_api_versions,
        "expected 2025-02-15",
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_check_notices(infra: Infra, name: str) -> None:
    mutation = MUTATIONS[name]
    broken = infra.mutate(mutation.path, mutation.pattern, mutation.new)
    broken.doc(mutation.path)  # the mutated template is still valid Bicep syntax
    with pytest.raises(AssertionError, match=mutation.expect):
        mutation.check(broken)
