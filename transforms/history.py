"""History without recomputation: each build saves its per-machine facts (``int_machine_snapshot``) to the
lake as ``lake/derived/machine_snapshots/snapshot_date=D/``, and later builds read earlier nights from
there. Rebuilding a night rewrites its partition; only the retention window is read.

The lake may be on object storage (``output.lake_url``): the partition is then written through pyarrow
(DuckDB cannot write to a bucket without its httpfs extension) and published with the lake's manifest
protocol (``flows.lake.storage``), and earlier nights are read as a registered ``pyarrow.dataset``.
"""

from __future__ import annotations

import posixpath
import uuid
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from flows.lake.storage import (
    LakeStorage,
    commit_partition,
    partition_name,
    partitioned_dataset,
    published_partitions,
    run_file_prefix,
)
from flows.lake.writer import swap_partition

SNAPSHOTS = "machine_snapshots"
CURRENT_MODEL = "intermediate.int_machine_snapshot"
PAST_VIEW = "derived.machine_snapshots_past"
PAST_REGISTERED = f"_lake_derived__{SNAPSHOTS}"


def derived_dir(lake_dir: Path) -> Path:
    """The derived folder of a local lake (object storage: see ``derived_partition_exists``)."""
    return Path(lake_dir).resolve() / "derived" / SNAPSHOTS


def derived_partition_exists(lake: Path | str, night: date) -> bool:
    """Whether a build has already saved ``night``'s per-machine facts (local folder or object storage)."""
    storage = LakeStorage.of(lake)
    if storage.local:
        return (derived_dir(Path(storage.root)) / partition_name(night)).exists()
    return night.isoformat() in published_partitions(storage, storage.path("derived", SNAPSHOTS))


def _past_dates(lake_dir: Path, snapshot_date: date, retention_days: int) -> list[str]:
    oldest = snapshot_date - timedelta(days=retention_days - 1)
    found = []
    for folder in derived_dir(lake_dir).glob("snapshot_date=*"):
        day = date.fromisoformat(folder.name.split("=", 1)[1])
        if oldest <= day < snapshot_date and any(folder.glob("*.parquet")):
            found.append(folder.name)
    return sorted(found)


def _empty_past(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create or replace view {PAST_VIEW} as select * from {CURRENT_MODEL} where false")


def register_past(con: duckdb.DuckDBPyConnection, lake_dir: Path | str, snapshot_date: date,
                  retention_days: int) -> int:
    """``derived.machine_snapshots_past``: earlier nights within the retention window (possibly none)."""
    con.execute("create schema if not exists derived")
    storage = LakeStorage.of(lake_dir)
    if not storage.local:
        return _register_remote_past(con, storage, snapshot_date, retention_days)
    folders = _past_dates(lake_dir, snapshot_date, retention_days)
    if not folders:
        _empty_past(con)
        return 0
    files = ", ".join(f"'{derived_dir(lake_dir) / f / '*.parquet'}'" for f in folders)
    con.execute(f"""create or replace view {PAST_VIEW} as
        select * exclude (snapshot_date), snapshot_date
        from read_parquet([{files}], hive_partitioning = true, union_by_name = true,
                          hive_types = {{'snapshot_date': date}})""")
    return len(folders)


def _remote_past(storage: LakeStorage, snapshot_date: date, retention_days: int | None):
    """(nights, pyarrow dataset or None) of the derived partitions before ``snapshot_date`` in the window."""
    oldest = snapshot_date - timedelta(days=retention_days - 1) if retention_days else date.min
    base = storage.path("derived", SNAPSHOTS)
    nights = {day: files for day, files in published_partitions(storage, base).items()
              if oldest <= date.fromisoformat(day) < snapshot_date}
    files = [f for day_files in nights.values() for f in day_files]
    return len(nights), (partitioned_dataset(storage, files, base) if files else None)


def _register_remote_past(con: duckdb.DuckDBPyConnection, storage: LakeStorage, snapshot_date: date,
                          retention_days: int) -> int:
    count, dataset = _remote_past(storage, snapshot_date, retention_days)
    if dataset is None:
        _empty_past(con)
        return 0
    con.register(PAST_REGISTERED, dataset)
    con.execute(f"""create or replace view {PAST_VIEW} as
        select * exclude (snapshot_date), snapshot_date from {PAST_REGISTERED}""")
    return count


def attach_past(con: duckdb.DuckDBPyConnection, storage: LakeStorage) -> None:
    """Re-register the earlier nights an analyst database's ``derived.machine_snapshots_past`` reads (the
    nights before the one it was built for; retention has already dropped older ones from the lake)."""
    built = con.execute("select count(*) from duckdb_tables() "
                        "where schema_name = 'main' and table_name = 'build_info'").fetchall()
    if built != [(1,)]:
        return
    ((night,),) = con.execute("select max(snapshot_date) from main.build_info").fetchall()
    if night is None:
        return
    _, dataset = _remote_past(storage, night, None)
    if dataset is not None:
        con.register(PAST_REGISTERED, dataset)


def export_current(con: duckdb.DuckDBPyConnection, lake_dir: Path | str, snapshot_date: date) -> Path | str:
    """Save tonight's per-machine facts as the night's derived partition (atomic replace)."""
    storage = LakeStorage.of(lake_dir)
    if not storage.local:
        return _export_remote(con, storage, snapshot_date)
    root = derived_dir(lake_dir)
    staged = root / f"_staging-{uuid.uuid4().hex[:8]}"
    staged.mkdir(parents=True)
    con.execute(f"copy (select * exclude (snapshot_date) from {CURRENT_MODEL}) "
                f"to '{staged / 'part-0.parquet'}' (format parquet, compression zstd)")
    target = root / f"snapshot_date={snapshot_date.isoformat()}"
    swap_partition(staged, target, uuid.uuid4().hex[:8])
    return target


def _export_remote(con: duckdb.DuckDBPyConnection, storage: LakeStorage, snapshot_date: date) -> str:
    """Stream the model to one run-tagged object in the partition, then publish it with a manifest."""
    run_id = f"build-{uuid.uuid4().hex[:12]}"
    partition = storage.path("derived", SNAPSHOTS, partition_name(snapshot_date))
    reader = con.sql(f"select * exclude (snapshot_date) from {CURRENT_MODEL}").to_arrow_reader()
    path = posixpath.join(partition, f"{run_file_prefix(run_id)}0.parquet")
    with pq.ParquetWriter(path, reader.schema, compression="zstd", filesystem=storage.fs) as writer:
        for batch in reader:
            writer.write_batch(batch)
    commit_partition(storage, partition, run_id)
    return storage.url("derived", SNAPSHOTS, partition_name(snapshot_date))
