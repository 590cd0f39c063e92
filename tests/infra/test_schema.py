"""Every resource declaration against the official Bicep type definitions.

The checker (tests/infra/schema.py) would have caught ``anonymousPullEnabled`` on
``registries@2023-07-01``; the mutation table shows it fails on each kind of mistake.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.bicep import Infra
from tests.infra.schema import (
    TYPES,
    TypeIndex,
    check_module_calls,
    check_resources,
    type_index,
)
from tests.infra.types.vendor import MANIFEST, trim


@pytest.fixture(scope="module")
def infra() -> Infra:
    return Infra.load()


def test_every_resource_matches_its_type(infra: Infra) -> None:
    findings = check_resources(infra)
    assert not findings, "\n".join(map(str, findings))


def test_every_module_call_matches_its_parameters(infra: Infra) -> None:
    findings = list(check_module_calls(infra))
    assert not findings, "\n".join(map(str, findings))


def test_every_type_used_is_vendored(infra: Infra) -> None:
    used = {
        f"{res.type}@{res.api_version}".lower()
        for path in infra.texts
        for res in infra.resources(path).values()
    }
    assert used <= set(type_index().resources), sorted(used - set(type_index().resources))


# ---------------------------------------------------------------------------------
# The vendored files are what the manifest says
# ---------------------------------------------------------------------------------


def _manifest() -> dict[str, object]:
    return dict(json.loads(MANIFEST.read_text()))


def test_manifest_lists_exactly_the_vendored_files() -> None:
    entries = _manifest()["files"]
    assert isinstance(entries, list)
    listed = {f"{entry['path']}/types.json" for entry in entries}
    present = {p.relative_to(TYPES).as_posix() for p in TYPES.rglob("types.json")}
    assert listed == present


@pytest.mark.parametrize(
    "entry", json.loads(MANIFEST.read_text())["files"], ids=lambda entry: entry["path"]
)
def test_vendored_file_is_a_closed_trim(entry: dict[str, object]) -> None:
    """Every reference resolves, and trimming again changes nothing (no stray types)."""
    types = json.loads((TYPES / str(entry["path"]) / "types.json").read_text())
    text = json.dumps(types)
    refs = {int(m) for m in re.findall(r'"\$ref": "#/(\d+)"', text)}
    assert refs <= set(range(len(types)))
    resources = entry["resources"]
    assert isinstance(resources, list)
    assert trim(types, [str(r) for r in resources]) == types


# ---------------------------------------------------------------------------------
# The checker fails on each kind of mistake
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    path: str
    old: str
    new: str
    expect: str


MUTATIONS: dict[str, Mutation] = {
    "the original bug: anonymousPullEnabled on 2023-07-01": Mutation(
        "modules/demo-registry.bicep",
        "Microsoft.ContainerRegistry/registries@2025-11-01' = {",
        "Microsoft.ContainerRegistry/registries@2023-07-01' = {",
        "'anonymousPullEnabled' does not exist on RegistryProperties",
    ),
    "misspelled property": Mutation(
        "modules/storage.bicep",
        "allowBlobPublicAccess: false",
        "allowBlobPublicAcess: false",
        "'allowBlobPublicAcess' does not exist on StorageAccountPropertiesCreateParameters",
    ),
    "misspelled nested property": Mutation(
        "modules/function-app.bicep",
        "maximumInstanceCount: maximumInstanceCount",
        "maxInstanceCount: maximumInstanceCount",
        "'maxInstanceCount' does not exist on FunctionsScaleAndConcurrency",
    ),
    "read-only property": Mutation(
        "modules/demo-registry.bicep",
        "adminUserEnabled: false",
        "adminUserEnabled: false\n    loginServer: 'demo.azurecr.io'",
        "property 'loginServer' is read-only",
    ),
    "bad enum value": Mutation(
        "modules/demo-keyvault.bicep",
        "name: 'standard'",
        "name: 'gold'",
        "'gold' is not one of ['standard', 'premium']",
    ),
    "bad enum value on a container": Mutation(
        "modules/storage.bicep",
        "publicAccess: 'None'",
        "publicAccess: 'Everyone'",
        "'Everyone' is not one of ['Container', 'Blob', 'None']",
    ),
    "unknown discriminator": Mutation(
        "modules/alerts.bicep",
        "'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'",
        "'odata.type': 'Microsoft.Azure.Monitor.SingleResourceCriteria'",
        "'Microsoft.Azure.Monitor.SingleResourceCriteria' is not one of",
    ),
    "enum value of a metric criterion": Mutation(
        "modules/alerts.bicep",
        "timeAggregation: 'Total'",
        "timeAggregation: 17",
        "17 fits none of the allowed types",
    ),
    "missing required property": Mutation(
        "modules/keyvault-access.bicep",
        "roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
        "roles.keyVaultCryptoUser)\n",
        "",
        "required property 'roleDefinitionId' is missing",
    ),
    "out of bounds": Mutation(
        "modules/storage.bicep",
        "days: 7",
        "days: 400",
        "400 is above the maximum 365",
    ),
    "API version that does not exist": Mutation(
        "modules/app-identity.bicep",
        "userAssignedIdentities@2023-01-31",
        "userAssignedIdentities@2023-01-30",
        "no such resource type and API version",
    ),
    "string where a boolean belongs": Mutation(
        "modules/storage.bicep",
        "allowSharedKeyAccess: false",
        "allowSharedKeyAccess: 'false'",
        "expected true or false, got 'false'",
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_checker_notices(infra: Infra, name: str) -> None:
    mutation = MUTATIONS[name]
    broken = infra.mutate(mutation.path, re.escape(mutation.old), mutation.new)
    findings = [str(f) for f in check_resources(broken)]
    assert any(mutation.expect in f for f in findings), findings


def test_module_checker_notices(infra: Infra) -> None:
    broken = infra.mutate(
        "main.bicep",
        re.escape("principalId: appIdentity.outputs.principalId\n    grantDelete"),
        "principalID: appIdentity.outputs.principalId\n    grantDelete",
    )
    findings = [str(f) for f in check_module_calls(broken)]
    assert any("parameter 'principalID' is not declared" in f for f in findings), findings
    assert any("required parameter 'principalId' is not given" in f for f in findings), findings


def test_index_reads_every_vendored_file(tmp_path: Path) -> None:
    assert len(TypeIndex().resources) == sum(
        len(entry["resources"]) for entry in json.loads(MANIFEST.read_text())["files"]
    )
    assert not TypeIndex(tmp_path).resources
