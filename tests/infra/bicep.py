"""The Bicep templates under infra/, parsed with pycep-parser (no Bicep compiler runs here).

``Infra`` holds the text of every template so a test can mutate one and parse again;
the accessors unwrap pycep's shapes (``if (...)`` conditions, property accessors).

pycep writes an identifier and a string literal the same way (``location`` and
``'location'`` both become ``"location"``); ``symbols`` lists a file's identifiers so a
check can tell them apart.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

Json = dict[str, Any]


@functools.lru_cache(maxsize=128)
def parse_text(text: str) -> Json:
    return cast(Json, BicepParser().parse(text=text))


@dataclass(frozen=True)
class Resource:
    symbol: str
    type: str
    api_version: str
    existing: bool
    condition: Any
    body: Json


@dataclass(frozen=True)
class Module:
    symbol: str
    path: str
    condition: Any
    body: Json


@dataclass(frozen=True)
class Infra:
    """The text of every Bicep file under infra/, keyed by its path relative to infra/."""

    texts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Infra:
        return cls({p.relative_to(INFRA).as_posix(): p.read_text() for p in INFRA.rglob("*.bicep")})

    def mutate(self, path: str, pattern: str, new: str) -> Infra:
        """A copy with the first match of regex ``pattern`` in ``path`` replaced."""
        text, count = re.subn(pattern, new, self.texts[path], count=1, flags=re.DOTALL)
        if count != 1:
            raise LookupError(f"mutation target not found in {path}: {pattern!r}")
        return Infra({**self.texts, path: text})

    def doc(self, path: str) -> Json:
        return parse_text(self.texts[path])

    def resources(self, path: str) -> dict[str, Resource]:
        out: dict[str, Resource] = {}
        for symbol, raw in self.doc(path).get("resources", {}).items():
            condition, body = unwrap(raw["config"])
            out[symbol] = Resource(
                symbol, raw["type"], raw["api_version"], bool(raw["existing"]), condition, body
            )
        return out

    def resource(self, path: str, symbol: str) -> Resource:
        found = self.resources(path)
        assert symbol in found, f"{path}: resource {symbol!r} is missing"
        return found[symbol]

    def modules(self, path: str) -> dict[str, Module]:
        out: dict[str, Module] = {}
        for symbol, raw in self.doc(path).get("modules", {}).items():
            condition, body = unwrap(raw["config"])
            out[symbol] = Module(symbol, raw["detail"]["path"], condition, body)
        return out

    def module(self, path: str, symbol: str) -> Module:
        found = self.modules(path)
        assert symbol in found, f"{path}: module {symbol!r} is missing"
        return found[symbol]

    def variable(self, path: str, name: str) -> Any:
        variables = self.doc(path).get("variables", {})
        assert name in variables, f"{path}: variable {name!r} is missing"
        return variables[name]["value"]

    def symbols(self, path: str) -> frozenset[str]:
        """Every name the file declares: parameters, variables, resources, modules, outputs."""
        doc = self.doc(path)
        names: set[str] = set()
        for section in ("parameters", "variables", "resources", "modules", "outputs"):
            names.update(doc.get(section, {}))
        return frozenset(names)


def unwrap(config: Json) -> tuple[Any, Json]:
    """Split ``if (cond) { ... }`` into its condition and body (None when unconditional)."""
    if set(config) == {"condition", "config"}:
        return config["condition"], cast(Json, config["config"])
    return None, config


def accessor(obj: str, prop: str) -> Json:
    """pycep's form of ``obj.prop``."""
    return {
        "operator": {"type": "property_accessor", "operands": {"operand_1": obj, "operand_2": prop}}
    }


def path(*names: str) -> Json:
    """pycep's form of ``a.b.c`` (it nests to the right: a.(b.c))."""
    assert len(names) >= 2
    if len(names) == 2:
        return accessor(names[0], names[1])
    return {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": names[0], "operand_2": path(*names[1:])},
        }
    }


def is_expression(value: Any) -> bool:
    """A pycep expression node (operator, function call) rather than a literal value."""
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in ("operator", "function")
        and isinstance(next(iter(value.values())), dict)
        and "type" in next(iter(value.values()))
    )
