"""Where the real reference tools are: notation v1.3.2 and olareg v0.1.2.

Looked up in this order: an environment variable (``NOTATION_BIN``, ``OLAREG_BIN``), the
``PATH``, then ``../shared/reference-tools/`` beside the project (where CI has them). A
machine without them skips the interoperability tier with one line saying how to get
them; CI sets ``SIGNER_REQUIRE_REFERENCE_TOOLS=1`` so a missing tool fails there instead.
"""

from __future__ import annotations

import os
import shutil
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
        raise ReferenceToolMissingError(
            f"{name} not found (${name.upper()}_BIN, PATH, {BUNDLED}): {HOW_TO_GET[name]}"
        )
    return path


def tools_required() -> bool:
    """CI demands the tools; elsewhere a missing tool skips the tests that need it."""
    return os.environ.get(REQUIRE_VARIABLE, "").strip().lower() in ("1", "true", "yes")
