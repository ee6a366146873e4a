"""Reading the analyst DuckDB database: the view contract the reports rely on and a small query helper.

DuckDB 2.0: each query's result is fetched completely (``fetchall``) before the next query runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

#: The view columns the coverage report reads (a subset of the full view contract).
COVERAGE_VIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "machine_edr_status": (
        "machine_key", "cloud", "scope_id", "machine_name", "os_family", "os_name", "power_state",
        "is_running", "owner", "edr_status", "status_reason", "snapshot_date",
    ),
    "recommendations": (
        "machine_key", "cloud", "scope_id", "machine_name", "os_family", "recommendation_id",
        "recommendation", "severity", "edr_status", "plan_status", "remediation_action",
        "remediation_steps", "snapshot_date",
    ),
    "coverage_summary": (
        "dimension", "dimension_value", "machines", "running_machines", "stopped_machines", "protected",
        "unhealthy", "not_installed", "unknown", "exempt", "not_applicable", "coverage_pct",
        "snapshot_date",
    ),
    "extract_runs": (
        "run_id", "source", "cloud", "scope", "dataset", "status", "rows", "rejected_rows", "started_at",
        "finished_at", "error_class", "error_message",
    ),
    "coverage_changes": (
        "change_type", "machine_key", "cloud", "scope_id", "machine_name", "owner", "previous_status",
        "current_status", "detail", "previous_night", "snapshot_date",
    ),
    "coverage_daily": (
        "snapshot_date", "cloud", "running_machines", "protected", "exempt", "not_applicable",
    ),
    "time_to_protect": (
        "machine_key", "cloud", "scope_id", "machine_name", "owner", "first_seen", "first_protected",
        "days_to_protect", "days_unprotected_so_far",
    ),
}


class ViewContractError(RuntimeError):
    """The database lacks a view or a column the report reads."""


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run one query and fetch all of its rows as dicts keyed by column name."""
    result = con.execute(sql, list(params))
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """Run one query and return the first column of its first row (None when there is no row)."""
    fetched = con.execute(sql, list(params)).fetchall()
    return fetched[0][0] if fetched else None


def check_views(con: duckdb.DuckDBPyConnection, required: dict[str, tuple[str, ...]]) -> None:
    """Raise :class:`ViewContractError` naming every missing view and column, or return quietly."""
    present: dict[str, set[str]] = {}
    for row in rows(con, "select table_name, column_name from information_schema.columns "
                         "where table_schema = current_schema()"):
        present.setdefault(row["table_name"], set()).add(row["column_name"])
    problems = []
    for view, columns in required.items():
        if view not in present:
            problems.append(f"view {view!r} is missing")
            continue
        missing = [c for c in columns if c not in present[view]]
        if missing:
            problems.append(f"view {view!r} lacks column(s) {', '.join(missing)}")
    if problems:
        raise ViewContractError("the database does not match the report's view contract: "
                                + "; ".join(problems))
