"""Fixtures live in tests/plugins/, one module per real part the suite starts."""

pytest_plugins = [
    "tests.plugins.registry",
    "tests.plugins.keyvault",
    "tests.plugins.azurite",
    "tests.plugins.app",
]
