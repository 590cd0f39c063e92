"""Resource declarations checked against the Bicep type definitions (Azure/bicep-types-az).

``TypeIndex`` loads the vendored ``types.json`` files (tests/infra/types, see its README)
and ``check_body`` walks a resource body as pycep parsed it, the way Bicep's type checker
does for the parts that can be known before deployment:

- every property path exists on the type (or the object takes additional properties);
- no read-only property is set;
- a literal value has the property's type: a string in a closed enum is one of its
  values, an integer is within bounds, a literal string fits length and pattern;
- every required property is present (not for ``existing`` references);
- a discriminated object (``endpointType``, ``odata.type``) is checked as the variant its
  discriminator names, and the discriminator must name one.

Expressions (parameters, function calls, property accessors, interpolated strings for
enums) have no value before deployment and are not checked beyond their path.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra.bicep import Infra, is_expression

TYPES = Path(__file__).resolve().parent / "types"

REQUIRED = 1 << 0
READ_ONLY = 1 << 1

# Keys Bicep itself interprets; they are not sent to the resource provider.
BICEP_KEYS = frozenset({"scope", "parent", "dependsOn"})

Types = list[dict[str, Any]]


@dataclass(frozen=True)
class Finding:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class TypeIndex:
    def __init__(self, root: Path = TYPES) -> None:
        self.resources: dict[str, tuple[Types, int]] = {}
        for file in sorted(root.rglob("types.json")):
            types: Types = json.loads(file.read_text())
            for entry in types:
                if entry.get("$type") == "ResourceType":
                    self.resources[entry["name"].lower()] = (types, _index(entry["body"]))

    def body(self, type_name: str, api_version: str) -> tuple[Types, int] | None:
        return self.resources.get(f"{type_name}@{api_version}".lower())


@functools.cache
def type_index() -> TypeIndex:
    return TypeIndex()


def _index(ref: dict[str, str]) -> int:
    return int(ref["$ref"].removeprefix("#/"))


def _key(raw: str) -> str:
    """pycep keeps the quotes of a quoted key ('odata.type')."""
    return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == "'" else raw


class _Walker:
    def __init__(self, types: Types, symbols: frozenset[str], where: str) -> None:
        self.types = types
        self.symbols = symbols
        self.where = where
        self.findings: list[Finding] = []

    def fail(self, path: str, message: str) -> None:
        self.findings.append(Finding(f"{self.where} {path}".rstrip(), message))

    def is_unknown(self, value: Any) -> bool:
        """True for anything whose value only exists at deployment."""
        if is_expression(value):
            return True
        return isinstance(value, str) and (value in self.symbols or "${" in value)

    def check(self, value: Any, index: int, path: str, *, existing: bool = False) -> None:
        if value is None or self.is_unknown(value):
            return
        node = self.types[index]
        kind = node["$type"]
        if kind == "ObjectType":
            self.check_object(value, node.get("properties", {}), node, path, existing)
        elif kind == "DiscriminatedObjectType":
            self.check_discriminated(value, node, path, existing)
        elif kind == "ArrayType":
            self.check_array(value, node, path, existing)
        elif kind == "UnionType":
            self.check_union(value, node, path)
        elif kind in _SCALARS:
            _SCALARS[kind](self, value, node, path)
        elif kind != "AnyType":
            self.fail(path, f"unsupported type kind {kind}")

    def check_array(self, value: Any, node: dict[str, Any], path: str, existing: bool) -> None:
        if not isinstance(value, list):
            self.fail(path, f"expected an array, got {value!r}")
            return
        for i, item in enumerate(value):
            self.check(item, _index(node["itemType"]), f"{path}[{i}]", existing=existing)

    def check_object(
        self,
        value: Any,
        properties: dict[str, Any],
        node: dict[str, Any],
        path: str,
        existing: bool,
        *,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {value!r}")
            return
        given = {_key(k): v for k, v in value.items()}
        extra = node.get("additionalProperties")
        for name, item in given.items():
            where = f"{path}.{name}" if path else name
            if name in skip:
                continue
            prop = properties.get(name)
            if prop is None:
                if extra is not None:
                    self.check(item, _index(extra), where, existing=existing)
                else:
                    self.fail(where, f"property {name!r} does not exist on {node.get('name')}")
                continue
            if prop.get("flags", 0) & READ_ONLY:
                self.fail(where, f"property {name!r} is read-only")
                continue
            self.check(item, _index(prop["type"]), where, existing=existing)
        if existing:
            return
        for name, prop in properties.items():
            flags = prop.get("flags", 0)
            if flags & REQUIRED and not flags & READ_ONLY and name not in given:
                where = f"{path}.{name}" if path else name
                self.fail(where, f"required property {name!r} is missing")

    def check_discriminated(
        self, value: Any, node: dict[str, Any], path: str, existing: bool
    ) -> None:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {value!r}")
            return
        given = {_key(k): v for k, v in value.items()}
        discriminator = node["discriminator"]
        chosen = given.get(discriminator)
        elements: dict[str, Any] = node["elements"]
        where = f"{path}.{discriminator}" if path else discriminator
        if chosen is None:
            self.fail(where, f"required discriminator {discriminator!r} is missing")
            return
        if self.is_unknown(chosen):
            # Cannot tell the variant: accept any property of any of them.
            merged = dict(node.get("baseProperties", {}))
            for ref in elements.values():
                merged.update(self.types[_index(ref)].get("properties", {}))
            self.check_object(value, merged, node, path, True, skip=frozenset({discriminator}))
            return
        if chosen not in elements:
            self.fail(where, f"{chosen!r} is not one of {sorted(elements)}")
            return
        element = self.types[_index(elements[chosen])]
        merged = {**node.get("baseProperties", {}), **element.get("properties", {})}
        self.check_object(value, merged, element, path, existing, skip=frozenset({discriminator}))

    def check_union(self, value: Any, node: dict[str, Any], path: str) -> None:
        members = [self.types[_index(ref)] for ref in node["elements"]]
        literals = [m["value"] for m in members if m["$type"] == "StringLiteralType"]
        if len(literals) == len(members):  # a closed enum
            if value not in literals:
                self.fail(path, f"{value!r} is not one of {literals}")
            return
        for ref in node["elements"]:  # an open enum, or a union of shapes: any may fit
            trial = _Walker(self.types, self.symbols, self.where)
            trial.check(value, _index(ref), path)
            if not trial.findings:
                return
        self.fail(path, f"{value!r} fits none of the allowed types")

    def check_literal(self, value: Any, node: dict[str, Any], path: str) -> None:
        if value != node["value"]:
            self.fail(path, f"{value!r} is not {node['value']!r}")

    def check_boolean(self, value: Any, node: dict[str, Any], path: str) -> None:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {value!r}")

    def check_string(self, value: Any, node: dict[str, Any], path: str) -> None:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {value!r}")
            return
        if "minLength" in node and len(value) < node["minLength"]:
            self.fail(path, f"{value!r} is shorter than {node['minLength']}")
        if "maxLength" in node and len(value) > node["maxLength"]:
            self.fail(path, f"{value!r} is longer than {node['maxLength']}")
        pattern = node.get("pattern")
        if pattern and re.search(pattern, value) is None:
            self.fail(path, f"{value!r} does not match {pattern!r}")

    def check_integer(self, value: Any, node: dict[str, Any], path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"expected an integer, got {value!r}")
            return
        if "minValue" in node and value < node["minValue"]:
            self.fail(path, f"{value} is below the minimum {node['minValue']}")
        if "maxValue" in node and value > node["maxValue"]:
            self.fail(path, f"{value} is above the maximum {node['maxValue']}")


_SCALARS = {
    "StringLiteralType": _Walker.check_literal,
    "StringType": _Walker.check_string,
    "IntegerType": _Walker.check_integer,
    "BooleanType": _Walker.check_boolean,
}


def check_resources(infra: Infra, index: TypeIndex | None = None) -> list[Finding]:
    """Every resource declaration in every template, against its type and API version."""
    index = index or type_index()
    findings: list[Finding] = []
    for file in sorted(infra.texts):
        symbols = infra.symbols(file)
        for res in infra.resources(file).values():
            where = f"{file}: {res.symbol} ({res.type}@{res.api_version})"
            found = index.body(res.type, res.api_version)
            if found is None:
                findings.append(Finding(where, "no such resource type and API version"))
                continue
            types, body = found
            walker = _Walker(types, symbols, where)
            node = types[body]
            walker.check_object(
                res.body, node["properties"], node, "", res.existing, skip=BICEP_KEYS
            )
            findings.extend(walker.findings)
    return findings


def check_value(
    infra: Infra,
    *,
    file: str,
    value: Any,
    resource_type: str,
    property_path: tuple[str, ...],
    where: str,
    index: TypeIndex | None = None,
) -> list[Finding]:
    """A value a template builds for part of a resource (e.g. an output the hooks PUT)."""
    name, _, api_version = resource_type.partition("@")
    found = (index or type_index()).body(name, api_version)
    if found is None:
        return [Finding(where, f"no such resource type {resource_type}")]
    types, current = found
    for step in property_path:
        prop = types[current].get("properties", {}).get(step)
        if prop is None:
            return [Finding(where, f"{resource_type} has no property {step!r}")]
        current = _index(prop["type"])
    walker = _Walker(types, infra.symbols(file), where)
    walker.check(value, current, ".".join(property_path))
    return walker.findings


def check_module_calls(infra: Infra) -> Iterator[Finding]:
    """Module parameters exist in the module file, and required ones are given."""
    for file in sorted(infra.texts):
        base = Path(file).parent
        for module in infra.modules(file).values():
            target = os.path.normpath(base / module.path).replace(os.sep, "/")
            where = f"{file}: module {module.symbol} ({target})"
            if target not in infra.texts:
                yield Finding(where, "module file does not exist")
                continue
            declared = infra.doc(target).get("parameters", {})
            given = {_key(k) for k in module.body.get("params", {})}
            for name in sorted(given - set(declared)):
                yield Finding(where, f"parameter {name!r} is not declared by the module")
            for name, param in sorted(declared.items()):
                if param.get("default") is None and name not in given:
                    yield Finding(where, f"required parameter {name!r} is not given")
