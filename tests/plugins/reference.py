"""Fixtures for the real reference tools: olareg (referrers API registry) and notation.

A machine without them skips what needs them, with the line ``reference_tools`` prints
on how to get them; CI (``SIGNER_REQUIRE_REFERENCE_TOOLS=1``, set by ``.ci/run``) fails
instead, so the interoperability tier can never silently stop running there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.notation import Notation
from tests.servers.olareg import Olareg
from tests.servers.reference_tools import ReferenceToolMissingError, require_tool, tools_required


def need_tool(name: str) -> Path:
    try:
        return require_tool(name)
    except ReferenceToolMissingError as exc:
        if tools_required():
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def olareg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Olareg]:
    """One olareg for the session; tests take fresh repository names."""
    need_tool("olareg")
    registry = Olareg(tmp_path_factory.mktemp("olareg")).start()
    yield registry
    registry.stop()


@pytest.fixture
def notation(tmp_path: Path) -> Notation:
    """The real notation with a configuration directory of its own."""
    return Notation(tmp_path / "notation-home", need_tool("notation"))
