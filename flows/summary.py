"""Small read-only helpers over the published database for the CLI's output."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

STATUS_ORDER = ["protected", "unhealthy", "not_installed", "unknown", "exempt", "not_applicable"]


def verdict_counts(database_path: Path) -> list[tuple[str, int, int]]:
    """(edr_status, running machines, all machines) in the documented status order. Deleted machines
    (EC2 lists terminated instances for a while) are not counted: they need nothing."""
    with duckdb.connect(str(database_path), read_only=True) as con:
        found = {row[0]: (row[1], row[2]) for row in con.execute(
            "select edr_status, count(*) filter (where is_running), count(*) "
            "from machine_edr_status where power_state <> 'deleted' group by 1").fetchall()}
    return [(status, *found.get(status, (0, 0))) for status in STATUS_ORDER]


def database_snapshot(database_path: Path) -> date:
    with duckdb.connect(str(database_path), read_only=True) as con:
        return con.execute("select snapshot_date from build_info").fetchone()[0]


def print_result(console: Console, columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "json":
        console.print_json(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows(rows)
        print(buffer.getvalue(), end="")
    else:
        table = Table(*columns)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
