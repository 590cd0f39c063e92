"""Re-create the vendored Bicep type files from a checkout of Azure/bicep-types-az.

    python -m tests.infra.types.vendor /work/.mirror/Azure+bicep-types-az/repo

For each entry of ``manifest.json`` it reads ``generated/<path>/types.json`` at the
recorded commit (``git show``), keeps the named resource types and every type they
reference, drops the rest (other resource types, resource functions such as listKeys),
renumbers the ``#/N`` references and writes ``<path>/types.json`` here. Nothing else in
a kept entry is changed, so the checker reads the same data Bicep would.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"


def _refs(node: Any) -> list[int]:
    if isinstance(node, dict):
        out = []
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out.append(int(value[2:]))
            else:
                out.extend(_refs(value))
        return out
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _renumber(node: Any, mapping: dict[int, int]) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                f"#/{mapping[int(value[2:])]}"
                if key == "$ref" and isinstance(value, str) and value.startswith("#/")
                else _renumber(value, mapping)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_renumber(item, mapping) for item in node]
    return node


def trim(types: list[dict[str, Any]], resources: list[str]) -> list[dict[str, Any]]:
    """The named ResourceType entries and everything reachable from them, renumbered."""
    wanted = {name.lower() for name in resources}
    roots = [
        i
        for i, entry in enumerate(types)
        if entry.get("$type") == "ResourceType" and entry["name"].lower() in wanted
    ]
    found = {types[i]["name"].lower() for i in roots}
    if found != wanted:
        raise LookupError(f"not in this types.json: {sorted(wanted - found)}")
    keep: set[int] = set()
    todo = list(roots)
    while todo:
        index = todo.pop()
        if index not in keep:
            keep.add(index)
            todo.extend(_refs(types[index]))
    mapping = {old: new for new, old in enumerate(sorted(keep))}
    return [_renumber(types[old], mapping) for old in sorted(keep)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("repository", help="a git directory of Azure/bicep-types-az")
    args = parser.parse_args()
    manifest = json.loads(MANIFEST.read_text())
    for entry in manifest["files"]:
        source = subprocess.run(
            [
                "git",
                "--git-dir",
                args.repository,
                "show",
                f"{manifest['commit']}:generated/{entry['path']}/types.json",
            ],
            check=True,
            capture_output=True,
        ).stdout
        trimmed = trim(json.loads(source), entry["resources"])
        target = HERE / entry["path"] / "types.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(trimmed, indent=1) + "\n")
        print(f"{entry['path']}: {len(trimmed)} types")


if __name__ == "__main__":
    main()
