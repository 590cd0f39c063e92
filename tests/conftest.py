"""Fixtures live in tests/plugins/, one module per real part the suite starts.

Importing ``tests.fuzzing`` loads the Hypothesis profile (deterministic unless ``make fuzz``).
"""

import tests.fuzzing  # noqa: F401  (registers and loads the Hypothesis profile)

pytest_plugins = [
    "tests.plugins.registry",
    "tests.plugins.keyvault",
    "tests.plugins.azurite",
    "tests.plugins.app",
    "tests.plugins.reference",
    "tests.plugins.tsa",
]
