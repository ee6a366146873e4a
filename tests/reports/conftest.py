"""Fixtures of the report tests; the fixture database itself is built by ``coverage_fixture_db``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from coverage_fixture_db import build_fixture_db


@pytest.fixture
def fixture_db(tmp_path: Path) -> Path:
    return build_fixture_db(tmp_path / "analyst.duckdb")


@pytest.fixture
def con(fixture_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(fixture_db), read_only=True)
    yield connection
    connection.close()
