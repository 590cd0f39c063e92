"""pytest fixtures: a real Azurite (Azure Storage emulator) for blob leases and the ledger table.

``azurite_connection_string`` (session) starts node_modules/.bin/azurite in memory on free
loopback ports, so concurrent test sessions do not collide, and stops its process group at
the end. A missing Azurite is a setup problem, not a reason to skip: the fixture fails.
``storage_names`` (function) gives each test its own table and container.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.servers.azurite import ACCOUNT_KEY, Azurite, AzuriteError

__all__ = ["ACCOUNT_KEY", "StorageNames"]


@dataclass(frozen=True)
class StorageNames:
    table: str
    container: str


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string for a private in-memory Azurite (blob, queue and table)."""
    azurite = Azurite(tmp_path_factory.mktemp("azurite"))
    try:
        azurite.start()
    except AzuriteError as exc:
        pytest.fail(str(exc))  # a setup problem, not a reason to skip
    try:
        yield azurite.connection_string
    finally:
        azurite.stop()


@pytest.fixture
def storage_names() -> StorageNames:
    """Names no other test uses, so tests share one Azurite without seeing each other."""
    suffix = uuid.uuid4().hex[:20]
    return StorageNames(table=f"t{suffix}", container=f"c-{suffix}")
