"""The suite's Hypothesis profile: what makes CI runs the same on every machine."""

from __future__ import annotations

from hypothesis import settings

from tests.fuzzing import FUZZ, examples


def test_ci_profile_is_deterministic_and_keeps_no_database() -> None:
    if FUZZ:  # make fuzz: random on purpose
        return
    current = settings()
    assert current.derandomize is True
    assert current.database is None
    assert current.print_blob is True


def test_examples_keeps_the_count_outside_fuzzing() -> None:
    if FUZZ:
        return
    assert examples(37).max_examples == 37
    assert examples(5, deadline=None).deadline is None
