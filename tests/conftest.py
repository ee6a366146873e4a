"""Shared fixtures. Prefect runs against one temporary test server for the whole session (about 15 s once)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

# Prefect configures logging once per process, when first used, with a console handler on the root logger
# bound to sys.stderr as it is at that moment. Configured here, at collection, that is the real stderr. When
# the first use was inside a test capturing its output (the extraction benchmark's smoke test, run on its own
# or just before tests/flows), the handler kept the closed capture, and every later record printed
# "--- Logging error ---" into the next tests' output.
from prefect.logging.configuration import setup_logging  # noqa: E402

setup_logging()


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
