"""Structure checks on the Bicep templates in infra/.

No Bicep compiler can run here, so these tests parse the templates with pycep-parser
and assert what matters for a working, least-privilege deployment: resource types and
API versions, the role definition ids and how each assignment is named and scoped,
the Event Grid subscription (event types, filters, retries, dead-lettering), the Flex
Consumption app, identity-based storage, no secrets in app settings, and that the app
settings are exactly the ones the function reads (``shared/setting_names.py``).

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

MAIN = "main.bicep"
STORAGE = "modules/storage.bicep"
MONITORING = "modules/monitoring.bicep"
REGISTRY_ACCESS = "modules/registry-access.bicep"
KEYVAULT_ACCESS = "modules/keyvault-access.bicep"
REGISTRY_EVENTS = "modules/registry-events.bicep"
OUTCOME_TOPIC = "modules/outcome-topic-access.bicep"
DEMO_REGISTRY = "modules/demo-registry.bicep"
DEMO_KEYVAULT = "modules/demo-keyvault.bicep"


# Built-in role definition ids, checked against Microsoft's built-in roles list.
KNOWN_ROLES: dict[str, str] = {
    "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "AcrDelete": "c2f4ef07-c644-48eb-af81-4b1b4947fb11",
    "Container Registry Repository Writer": "2a1e307c-b015-4ebd-883e-5b7698a07328",
    "Container Registry Repository Contributor": "2efddaa5-3f1f-4df3-97df-af3f13818f4c",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Certificate User": "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Certificates Officer": "a4417e6f-fecd-4de8-b567-7b0420556985",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "EventGrid Data Sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
}

# Which roles each template may grant: a new or missing grant must be a conscious change.
EXPECTED_ROLES_PER_FILE: dict[str, set[str]] = {
    MAIN: set(),
    STORAGE: {
        "Storage Blob Data Owner",
        "Storage Blob Data Contributor",
        "Storage Table Data Contributor",
    },
    MONITORING: {"Monitoring Metrics Publisher"},
    REGISTRY_ACCESS: {
        "AcrPush",
        "AcrDelete",
        "Container Registry Repository Writer",
        "Container Registry Repository Contributor",
    },
    KEYVAULT_ACCESS: {
        "Key Vault Crypto User",
        "Key Vault Certificate User",
        "Key Vault Secrets User",
    },
    REGISTRY_EVENTS: set(),
    OUTCOME_TOPIC: {"EventGrid Data Sender"},
    DEMO_REGISTRY: {"AcrPush"},
    DEMO_KEYVAULT: {"Key Vault Certificates Officer"},
}

# Every resource type the templates use, with the one API version allowed for it.
EXPECTED_API_VERSIONS: dict[str, str] = {
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
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
    "Microsoft.ContainerRegistry/registries": "2025-11-01",
    "Microsoft.KeyVault/vaults": "2023-07-01",
    "Microsoft.EventGrid/systemTopics": "2025-02-15",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions": "2025-02-15",
    "Microsoft.EventGrid/topics": "2025-02-15",
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

# Settings read by the Functions host itself (not by the signer), which the deployment
# must set for Application Insights. They are not in shared/setting_names.py.
HOST_ONLY_SETTINGS: dict[str, str] = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "where the host sends telemetry; not a secret "
    "because the component has local auth disabled",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "makes the host send telemetry with the "
    "managed identity (Entra ID) instead of the instrumentation key",
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


# ---------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _app_settings(infra: Infra) -> dict[str, Any]:
    site = infra.resource(MAIN, "functionApp")
    entries = site.body["properties"]["siteConfig"]["appSettings"]
    names = [entry["name"] for entry in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"app settings set twice: {duplicates}"
    return {entry["name"]: entry["value"] for entry in entries}


def _role_assignments(infra: Infra) -> Iterator[tuple[str, Resource]]:
    for path in sorted(infra.texts):
        for res in infra.resources(path).values():
            if res.type == "Microsoft.Authorization/roleAssignments":
                yield path, res


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
    """Secrets User only for chain source 'secret'; delete rights only for tag clean-up."""
    kv = infra.resources(KEYVAULT_ACCESS)
    assert kv["cryptoUser"].condition is None and kv["certificateUser"].condition is None
    assert kv["secretsUser"].condition == "grantSecretsUser", "Secrets User must be conditional"
    kv_params = infra.module(MAIN, "keyVaultAccess").body["params"]
    assert kv_params["grantSecretsUser"] == {
        "operator": {
            "type": "equals",
            "operands": {"operand_1": "certChainSource", "operand_2": "secret"},
        }
    }, "Key Vault Secrets User must depend on certChainSource == 'secret'"

    acr = infra.resources(REGISTRY_ACCESS)
    for symbol in ("acrDelete", "repositoryContributor"):
        assert "grantDelete" in _text(acr[symbol].condition), f"{symbol} must need grantDelete"
    for symbol in ("acrPush", "acrDelete"):
        assert "usesRepositoryPermissions" in _text(acr[symbol].condition)
    assert _text(acr["acrPush"].condition).count("grantDelete") == 0
    acr_params = infra.module(MAIN, "registryAccess").body["params"]
    assert acr_params["grantDelete"] == "referrersTagCleanup", (
        "delete rights must follow referrersTagCleanup"
    )
    assert acr_params["usesRepositoryPermissions"] == "registryUsesRepositoryPermissions"

    outcome = infra.module(MAIN, "outcomeTopicAccess")
    assert outcome.condition is not None and "outcomeTopicName" in _text(outcome.condition)


def check_event_subscription(infra: Infra) -> None:
    topic = infra.resource(REGISTRY_EVENTS, "systemTopic")
    assert topic.body["properties"]["topicType"] == "Microsoft.ContainerRegistry.Registries"
    assert topic.body["properties"]["source"] == _accessor("registry", "id")
    assert topic.body["identity"]["type"] == "UserAssigned"

    sub = infra.resource(REGISTRY_EVENTS, "signerSubscription")
    assert sub.condition == "deployEventSubscription"
    props = sub.body["properties"]
    destination = props["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert destination["properties"]["resourceId"] == "functionResourceId"
    assert destination["properties"]["maxEventsPerBatch"] == 1
    assert props["eventDeliverySchema"] == "EventGridSchema"

    flt = props["filter"]
    event_types = sorted(flt["includedEventTypes"])
    assert event_types == [
        "Microsoft.ContainerRegistry.ChartPushed",
        "Microsoft.ContainerRegistry.ImagePushed",
    ], f"wrong event types: {event_types}"
    assert flt["advancedFilters"] == "repositoryFilters"
    filters = infra.variable(REGISTRY_EVENTS, "repositoryFilters")["operator"]
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
        "maxDeliveryAttempts": "maxDeliveryAttempts",
        "eventTimeToLiveInMinutes": "eventTimeToLiveInMinutes",
    }, "retry policy missing or not parameterised"

    dead = props.get("deadLetterWithResourceIdentity") or {}
    assert dead, "the subscription has no dead-letter destination"
    assert dead["identity"] == {"type": "UserAssigned", "userAssignedIdentity": "eventsIdentityId"}
    destination = dead["deadLetterDestination"]
    assert destination["endpointType"] == "StorageBlob"
    assert destination["properties"] == {
        "resourceId": "deadLetterStorageAccountId",
        "blobContainerName": "deadLetterContainerName",
    }

    # main.bicep wires it to the right function, container and identity.
    params = infra.module(MAIN, "registryEvents").body["params"]
    assert params["functionResourceId"] == "${functionApp.id}/functions/${eventFunctionName}"
    assert infra.variable(MAIN, "eventFunctionName") == "on_image_pushed", (
        "the subscription must target the on_image_pushed function"
    )
    assert params["deadLetterContainerName"] == _path(
        "storage", "outputs", "deadLetterContainerName"
    )
    assert params["eventsIdentityId"] == _accessor("eventsIdentity", "id")
    assert params["deployEventSubscription"] == "deployEventSubscription"

    # The dead-letter container exists and only Event Grid's identity may write to it.
    storage = infra.resources(STORAGE)
    assert storage["deadLetterContainer"].body["name"] == "deadLetterContainerName"
    writer = storage["eventsDeadLetterWriter"]
    assert writer.body["scope"] == "deadLetterContainer"
    assert writer.body["properties"]["principalId"] == "eventsPrincipalId"


def check_function_app(infra: Infra) -> None:
    plan = infra.resource(MAIN, "plan")
    assert plan.body["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan.body["properties"]["reserved"] is True

    site = infra.resource(MAIN, "functionApp")
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
        "userAssignedIdentityResourceId": _accessor("appIdentity", "id"),
    }, "deployment storage must be read with the app's user-assigned identity"
    assert "azd-service-name" in _text(site.body["tags"]) and "signer" in _text(site.body["tags"])

    outputs = infra.doc(MAIN)["outputs"]
    assert outputs["FUNCTION_APP_NAME"]["value"] == _accessor("functionApp", "name")
    principal = outputs["IDENTITY_PRINCIPAL_ID"]["value"]
    assert principal == _path("appIdentity", "properties", "principalId")
    host = "https://${functionApp.properties.defaultHostName}"
    assert outputs["SIGN_ENDPOINT"]["value"] == f"{host}/api/sign"
    assert outputs["STATUS_ENDPOINT"]["value"] == f"{host}/api/status"


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
    client_id = _path("appIdentity", "properties", "clientId")
    assert settings["AzureWebJobsStorage__clientId"] == client_id
    assert settings["SIGNER_MANAGED_IDENTITY_CLIENT_ID"] == client_id
    assert settings["SIGNER_REGISTRY_AUTH"] == "entra"


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
    check_role_assignments,
    check_conditional_grants,
    check_event_subscription,
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


def test_modules_referenced_by_main_exist(infra: Infra) -> None:
    for module in infra.modules(MAIN).values():
        assert (INFRA / module.path).is_file(), module.path


def test_parameters_file_matches_main(infra: Infra) -> None:
    """azd's parameter file names only parameters main.bicep declares, and all required ones."""
    declared = infra.doc(MAIN)["parameters"]
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(declared), sorted(set(given) - set(declared))
    required = {name for name, p in declared.items() if p["default"] is None}
    assert required <= set(given), sorted(required - set(given))


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


def test_azure_yaml_deploys_the_signer() -> None:
    text = (ROOT / "azure.yaml").read_text()
    for line in ("  signer:", "    project: .", "    language: python", "    host: function"):
        assert line in text.splitlines(), line
    assert "./infra/scripts/postdeploy.sh" in text


def test_checkov_skips_have_reasons(infra: Infra) -> None:
    for path, text in infra.texts.items():
        for match in re.finditer(r"checkov:skip=([A-Z0-9_]+)(:[^\n]*)?", text):
            reason = (match.group(2) or "").lstrip(":").strip()
            assert len(reason) > 20, f"{path}: skip of {match.group(1)} needs a written reason"


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
    "wrong AcrPush id": Mutation(
        REGISTRY_ACCESS,
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
    "Secrets User always granted": Mutation(
        KEYVAULT_ACCESS,
        lit("= if (grantSecretsUser) {"),
        "= {",
        check_conditional_grants,
        "Secrets User must be conditional",
    ),
    "delete granted without clean-up": Mutation(
        MAIN,
        lit("grantDelete: referrersTagCleanup"),
        "grantDelete: true",
        check_conditional_grants,
        "delete rights must follow",
    ),
    "dead-letter destination missing": Mutation(
        REGISTRY_EVENTS,
        lit("deadLetterWithResourceIdentity: {"),
        "deadLetterIgnored: {",
        check_event_subscription,
        "no dead-letter destination",
    ),
    "ChartPushed not delivered": Mutation(
        REGISTRY_EVENTS,
        lit("'Microsoft.ContainerRegistry.ChartPushed'"),
        "'Microsoft.ContainerRegistry.ImageDeleted'",
        check_event_subscription,
        "wrong event types",
    ),
    "filter on the wrong field": Mutation(
        REGISTRY_EVENTS,
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
        REGISTRY_EVENTS,
        lit("retryPolicy: {"),
        "retryIgnored: {",
        check_event_subscription,
        "retry policy",
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
        MAIN,
        lit("version: '3.11'"),
        "version: '3.12'",
        check_function_app,
        "Python 3.11",
    ),
    "deployment storage without identity": Mutation(
        MAIN,
        lit("type: 'UserAssignedIdentity'"),
        "type: 'StorageAccountConnectionString'",
        check_function_app,
        "user-assigned identity",
    ),
    "API version drift": Mutation(
        REGISTRY_EVENTS,
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
