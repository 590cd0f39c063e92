"""Hypothesis settings for the whole suite: deterministic in CI, exploring under ``make fuzz``.

``make test`` (and CI) runs the ``ci`` profile: examples derived from each test's
name (``derandomize``), no example database, so a fresh machine runs exactly the
inputs every other machine ran and a red run is reproducible anywhere. ``make fuzz``
selects the ``fuzz`` profile (``HYPOTHESIS_PROFILE=fuzz``): random seeds and
``FUZZ_FACTOR`` times the examples, with a local database under ``.hypothesis/`` so a
failure found there is replayed first next time. Either way a failing property
prints the input that broke it (``print_blob`` and the falsifying example).

Tests set their example counts with ``examples(n)`` rather than ``settings(max_examples=n)``,
so the fuzz profile can scale them.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
FUZZ_FACTOR = int(os.environ.get("FUZZ_FACTOR", "20")) if FUZZ else 1

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    derandomize=False,
    max_examples=100 * FUZZ_FACTOR,
    database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("fuzz" if FUZZ else "ci")


def examples(n: int, **extra: Any) -> settings:
    """``settings(max_examples=n)`` that ``make fuzz`` multiplies by ``FUZZ_FACTOR``."""
    return settings(max_examples=n * FUZZ_FACTOR, **extra)
