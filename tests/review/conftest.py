"""Regression tests from an attacker-style review of the hostile-input fixes (issue 9).

Each test here failed on the code the review was given and passes on the fixes; they stay
as the suite's memory of those holes. The registry tests' client factory is shared.
"""

from tests.registry.conftest import make_client

__all__ = ["make_client"]
