"""Fixtures for the real reference tools: olareg (referrers API registry) and notation.

On a machine without them the tests that use these fixtures are not run, and the end of
the run says so in one line, with how to get the tools; CI
(``SIGNER_REQUIRE_REFERENCE_TOOLS=1``, set by ``.ci/run``) fails instead, so the
interoperability tier can never silently stop running there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.notation import Notation
from tests.servers.olareg import Olareg
from tests.servers.reference_tools import (
    EXPECTED_VERSIONS,
    ReferenceToolMissingError,
    find_tool,
    not_found,
    require_tool,
    tools_required,
)

_NOT_RUN = pytest.StashKey[tuple[int, str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the tools (and outside CI), leave out what needs them, to report it once."""
    if tools_required():
        return
    missing = {name for name in EXPECTED_VERSIONS if find_tool(name) is None}
    needs = [i for i in items if missing & set(getattr(i, "fixturenames", ()))]
    if not needs:
        return
    config.hook.pytest_deselected(items=needs)
    left_out = {id(i) for i in needs}
    items[:] = [i for i in items if id(i) not in left_out]
    config.stash[_NOT_RUN] = (len(needs), "; ".join(not_found(n) for n in sorted(missing)))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if _NOT_RUN in config.stash:
        count, reason = config.stash[_NOT_RUN]
        terminalreporter.write_line(
            f"interoperability tier skipped ({count} tests deselected): {reason}", yellow=True
        )


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
