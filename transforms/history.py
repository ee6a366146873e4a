"""History without recomputation: each build saves its per-machine facts (``int_machine_snapshot``) to the
lake as ``lake/derived/machine_snapshots/snapshot_date=D/``, and later builds read earlier nights from
there. Rebuilding a night rewrites its partition; only the retention window is read.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

import duckdb

from flows.lake.writer import swap_partition

SNAPSHOTS = "machine_snapshots"
CURRENT_MODEL = "intermediate.int_machine_snapshot"
PAST_VIEW = "derived.machine_snapshots_past"


def derived_dir(lake_dir: Path) -> Path:
    return Path(lake_dir).resolve() / "derived" / SNAPSHOTS


def _past_dates(lake_dir: Path, snapshot_date: date, retention_days: int) -> list[str]:
    oldest = snapshot_date - timedelta(days=retention_days - 1)
    found = []
    for folder in derived_dir(lake_dir).glob("snapshot_date=*"):
        day = date.fromisoformat(folder.name.split("=", 1)[1])
        if oldest <= day < snapshot_date and any(folder.glob("*.parquet")):
            found.append(folder.name)
    return sorted(found)


def register_past(con: duckdb.DuckDBPyConnection, lake_dir: Path, snapshot_date: date, retention_days: int) -> int:
    """``derived.machine_snapshots_past``: earlier nights within the retention window (possibly none)."""
    con.execute("create schema if not exists derived")
    folders = _past_dates(lake_dir, snapshot_date, retention_days)
    if not folders:
        con.execute(f"create or replace view {PAST_VIEW} as select * from {CURRENT_MODEL} where false")
        return 0
    files = ", ".join(f"'{derived_dir(lake_dir) / f / '*.parquet'}'" for f in folders)
    con.execute(f"""create or replace view {PAST_VIEW} as
        select * exclude (snapshot_date), snapshot_date
        from read_parquet([{files}], hive_partitioning = true, union_by_name = true,
                          hive_types = {{'snapshot_date': date}})""")
    return len(folders)


def export_current(con: duckdb.DuckDBPyConnection, lake_dir: Path, snapshot_date: date) -> Path:
    """Save tonight's per-machine facts as the night's derived partition (atomic replace)."""
    root = derived_dir(lake_dir)
    staged = root / f"_staging-{uuid.uuid4().hex[:8]}"
    staged.mkdir(parents=True)
    con.execute(f"copy (select * exclude (snapshot_date) from {CURRENT_MODEL}) "
                f"to '{staged / 'part-0.parquet'}' (format parquet, compression zstd)")
    target = root / f"snapshot_date={snapshot_date.isoformat()}"
    swap_partition(staged, target, uuid.uuid4().hex[:8])
    return target
