"""The worker lowers the Azure SDKs' per-request log, but not below a level set on purpose."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from shared.runtime import SDK_REQUEST_LOGGER, quiet_sdk_request_logs


@pytest.fixture
def sdk_logger() -> Iterator[logging.Logger]:
    logger, root = logging.getLogger(SDK_REQUEST_LOGGER), logging.getLogger()
    saved = logger.level, root.level
    logger.setLevel(logging.NOTSET)
    yield logger
    logger.setLevel(saved[0])
    root.setLevel(saved[1])


def test_per_request_records_are_dropped_at_info(sdk_logger: logging.Logger) -> None:
    logging.getLogger().setLevel(logging.INFO)  # as the Functions worker runs
    assert sdk_logger.isEnabledFor(logging.INFO)
    quiet_sdk_request_logs()
    assert not sdk_logger.isEnabledFor(logging.INFO)
    assert sdk_logger.isEnabledFor(logging.WARNING)


def test_a_level_set_on_purpose_is_kept(sdk_logger: logging.Logger) -> None:
    sdk_logger.setLevel(logging.DEBUG)  # someone debugging the HTTP traffic
    quiet_sdk_request_logs()
    assert sdk_logger.level == logging.DEBUG
