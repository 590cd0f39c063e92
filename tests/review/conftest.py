"""The registry tests' client factory, shared with the review tests."""

from tests.registry.conftest import make_client

__all__ = ["make_client"]
