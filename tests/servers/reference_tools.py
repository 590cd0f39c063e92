"""Where the real reference tools are: notation v1.3.2 and olareg v0.1.2.

Looked up in this order: an environment variable (``NOTATION_BIN``, ``OLAREG_BIN``), the
``PATH``, then ``../shared/reference-tools/`` beside the project (where CI has them). A
machine without them skips the interoperability tier with one line saying how to get
them; CI sets ``SIGNER_REQUIRE_REFERENCE_TOOLS=1`` so a missing tool fails there instead.

``python -m tests.servers.reference_tools`` says where each tool is and which version it
is, or how to get it (exit 1): ``.ci/run`` and ``make interop`` run it first, so a machine
without the tools fails in one line instead of in every test. Standard library only: it
runs before the virtual environment exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT.parent / "shared" / "reference-tools"
REQUIRE_VARIABLE = "SIGNER_REQUIRE_REFERENCE_TOOLS"

HOW_TO_GET = {
    "notation": (
        "install notation v1.3.2 (https://github.com/notaryproject/notation/releases) and put it "
        "on PATH, or set NOTATION_BIN"
    ),
    "olareg": (
        "install olareg v0.1.2 (https://github.com/olareg/olareg/releases) and put it on PATH, "
        "or set OLAREG_BIN"
    ),
}


#: the versions the tier's recorded verdicts come from
EXPECTED_VERSIONS = {"notation": "v1.3.2", "olareg": "v0.1.2"}


class ReferenceToolMissingError(RuntimeError):
    pass


def find_tool(name: str) -> Path | None:
    """The tool's path, or None when it is nowhere to be found."""
    explicit = os.environ.get(f"{name.upper()}_BIN")
    if explicit:
        path = Path(explicit)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    bundled = BUNDLED / name
    return bundled if bundled.is_file() and os.access(bundled, os.X_OK) else None


def require_tool(name: str) -> Path:
    """The tool's path; ReferenceToolMissingError (with how to get it) when absent."""
    path = find_tool(name)
    if path is None:
        raise ReferenceToolMissingError(not_found(name))
    return path


def not_found(name: str) -> str:
    return f"{name} not found (${name.upper()}_BIN, PATH, {BUNDLED}): {HOW_TO_GET[name]}"


def tools_required() -> bool:
    """CI demands the tools; elsewhere a missing tool skips the tests that need it."""
    return os.environ.get(REQUIRE_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def tool_version(path: Path) -> str | None:
    """The ``vX.Y.Z`` that ``<tool> version`` prints (notation and olareg both have it)."""
    try:
        done = subprocess.run(
            [str(path), "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"\bv\d+\.\d+\.\d+\b", done.stdout)
    return found.group(0) if found else None


def main() -> int:
    problems = []
    for name, expected in EXPECTED_VERSIONS.items():
        path = find_tool(name)
        if path is None:
            problems.append(not_found(name))
            continue
        version = tool_version(path)
        if version != expected:
            shown = version or "(unknown version)"
            problems.append(
                f"{path} is {name} {shown}, the tier needs {expected}: {HOW_TO_GET[name]}"
            )
            continue
        print(f"{name} {version}: {path}")
    for problem in problems:
        print(f"interoperability tier: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
