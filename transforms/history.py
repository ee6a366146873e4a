"""History without recomputation: each build saves its per-machine facts (``int_machine_snapshot``) to the
lake as ``lake/derived/machine_snapshots/snapshot_date=D/``, and later builds read earlier nights from
there. Rebuilding a night rewrites its partition; only the retention window is read. The licence
intervals (``int_license_intervals_new``: each night's billed hours, which need that night and the one
before) are saved the same way under ``lake/derived/license_intervals``, so a nightly build computes one
night of intervals, not the whole month.

Some models are states carried from night to night instead (the timeline, the daily trends, the licensing
month to date): the whole model is saved as tonight's partition and the next build adds one night to it.
Each saved state holds the fingerprint of the code that made it (``carried_fingerprints``: the model, its
recomputation and, for a state holding costs, the price book and the pricing model), and is carried on only
under the same one: a new version or a changed price book recomputes it from the retained nights, as a
missing state does.

The lake may be on object storage (``output.lake_url``): the partition is then written through pyarrow
(DuckDB cannot write to a bucket without its httpfs extension) and published with the lake's manifest
protocol (``flows.lake.storage``), and earlier nights are read as a registered ``pyarrow.dataset``.
"""

from __future__ import annotations

import posixpath
import shutil
import uuid
from dataclasses import dataclass
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
from transforms.project import Model
from transforms.working import WORK_CATALOG


@dataclass(frozen=True)
class Derived:
    """A per-night model saved to ``lake/derived/<name>/snapshot_date=D/`` and read back by later builds
    as ``derived.<name>_past`` (the nights before the one being built, within the retention window)."""

    name: str
    model: str  # its rows are saved, one partition per snapshot_date they hold
    # A state carried from night to night (the timeline): the whole model is saved as tonight's partition,
    # the next build reads only the previous night's, and with none it reads ``fallback`` (a model that
    # recomputes the state from the retained history).
    fallback: str | None = None
    # Columns a saved night must have to count as saved: a night saved by an earlier version without them
    # is computed again (and saved over) by the next build, rather than read back with the column empty.
    requires: tuple[str, ...] = ()
    # A carried state holding costs: its fingerprint covers the prices and the pricing model too.
    priced: bool = False
    # Other models whose code shapes a carried state's rows (a view it and its fallback read tonight's and
    # the earlier nights' rows from): part of its fingerprint.
    made_by: tuple[str, ...] = ()

    @property
    def carried(self) -> bool:
        return self.fallback is not None

    @property
    def past_view(self) -> str:
        return f"derived.{self.name}_past"

    @property
    def registered(self) -> str:
        return f"_lake_derived__{self.name}"


SNAPSHOT_FACTS = Derived("machine_snapshots", "intermediate.int_machine_snapshot")
LICENSE_INTERVALS = Derived("license_intervals", "intermediate.int_license_intervals_new",
                            requires=("edr_products",))
TIMELINE = Derived("machine_timeline", "marts.machine_timeline", fallback="intermediate.int_machine_timeline_rebuilt")
LICENSE_MONTH_MACHINES = Derived("license_month_machines", "intermediate.int_license_month_machines",
                                 fallback="intermediate.int_license_month_machines_rebuilt", priced=True,
                                 made_by=("intermediate.int_license_machine_nights",))
LICENSE_MONTH_NIGHTS = Derived("license_month_nights", "intermediate.int_license_month_nights",
                               fallback="intermediate.int_license_month_nights_rebuilt", priced=True,
                               made_by=("intermediate.int_license_combination_nights",))
COVERAGE_DAILY = Derived("coverage_daily", "marts.coverage_daily", fallback="intermediate.int_coverage_daily_rebuilt",
                         made_by=("intermediate.int_coverage_nights",))
LICENSE_COST_DAILY = Derived("license_cost_daily", "marts.license_cost_daily",
                             fallback="intermediate.int_license_cost_daily_rebuilt", priced=True,
                             made_by=("intermediate.int_license_cost_nights",))
DERIVED = (SNAPSHOT_FACTS, LICENSE_INTERVALS, TIMELINE, LICENSE_MONTH_MACHINES, LICENSE_MONTH_NIGHTS, COVERAGE_DAILY,
           LICENSE_COST_DAILY)
CARRIED = tuple(derived for derived in DERIVED if derived.carried)
PRICING_MODEL = "marts.license_hours"  # how an interval's hours become a cost
CARRIED_KEEP_NIGHTS = 7  # saved states kept per carried model (a rebuild of a recent night starts from its eve)

# The machine snapshots' names, used across the code base and its tests.
SNAPSHOTS = SNAPSHOT_FACTS.name
CURRENT_MODEL = SNAPSHOT_FACTS.model
PAST_VIEW = SNAPSHOT_FACTS.past_view
PAST_REGISTERED = SNAPSHOT_FACTS.registered


def derived_dir(lake_dir: Path, name: str = SNAPSHOTS) -> Path:
    """The derived folder of a local lake (object storage: see ``derived_partition_exists``)."""
    return Path(lake_dir).resolve() / "derived" / name


def derived_partition_exists(lake: Path | str, night: date) -> bool:
    """Whether a build has already saved ``night``'s per-machine facts (local folder or object storage)."""
    storage = LakeStorage.of(lake)
    if storage.local:
        return (derived_dir(Path(storage.root)) / partition_name(night)).exists()
    return night.isoformat() in published_partitions(storage, storage.path("derived", SNAPSHOTS))


def _past_dates(lake_dir: Path, snapshot_date: date, retention_days: int, name: str = SNAPSHOTS,
                requires: tuple[str, ...] = ()) -> list[str]:
    oldest = snapshot_date - timedelta(days=retention_days - 1)
    found = []
    for folder in derived_dir(lake_dir, name).glob("snapshot_date=*"):
        day = date.fromisoformat(folder.name.split("=", 1)[1])
        files = list(folder.glob("*.parquet"))
        if oldest <= day < snapshot_date and files and _has_columns(files, requires):
            found.append(folder.name)
    return sorted(found)


def _has_columns(files: list, requires: tuple[str, ...], filesystem=None) -> bool:
    """Whether every file's Parquet schema (its footer only) has the ``requires`` columns."""
    if not requires:
        return True
    import pyarrow.parquet as pq

    return all(set(requires) <= set(pq.read_schema(str(f), filesystem=filesystem).names) for f in files)


def _empty_past(con: duckdb.DuckDBPyConnection, derived: Derived) -> None:
    con.execute(f"create or replace view {derived.past_view} as select * from {derived.model} where false")


SAVED_NIGHTS = "derived.saved_nights"


def register_saved_nights(con: duckdb.DuckDBPyConnection, lake_dir: Path | str, snapshot_date: date,
                          retention_days: int) -> None:
    """``derived.saved_nights (dataset, snapshot_date)``: which earlier nights each derived dataset already
    holds within the window, from folder names or manifests alone, so a model can compute just the nights
    that are missing before it reads any saved rows."""
    con.execute("create schema if not exists derived")
    storage = LakeStorage.of(lake_dir)
    rows = []
    for derived in DERIVED:
        if storage.local:
            nights = [folder.split("=", 1)[1] for folder in _past_dates(lake_dir, snapshot_date, retention_days,
                                                                          derived.name, derived.requires)]
        else:
            nights = list(_remote_nights(storage, derived.name, snapshot_date, retention_days, derived.requires))
        rows += [(derived.name, date.fromisoformat(night)) for night in nights]
    con.execute(f"create or replace table {SAVED_NIGHTS} (dataset varchar, snapshot_date date)")
    if rows:
        con.executemany(f"insert into {SAVED_NIGHTS} values (?, ?)", rows)


def register_past(con: duckdb.DuckDBPyConnection, lake_dir: Path | str, snapshot_date: date,
                  retention_days: int, derived: Derived = SNAPSHOT_FACTS, fingerprint: str | None = None) -> int:
    """``derived.<name>_past``: earlier nights within the retention window (possibly none: then an empty
    view shaped like the model, which must be built by then); for a carried state, the previous night's if
    saved under ``fingerprint``."""
    con.execute("create schema if not exists derived")
    storage = LakeStorage.of(lake_dir)
    if derived.carried:
        return _register_carried(con, storage, derived, fingerprint)
    if not storage.local:
        return _register_remote_past(con, storage, snapshot_date, retention_days, derived)
    folders = _past_dates(lake_dir, snapshot_date, retention_days, derived.name, derived.requires)
    if not folders:
        _empty_past(con, derived)
        return 0
    con.execute(f"""create or replace view {derived.past_view} as
        select * exclude (snapshot_date), snapshot_date
        from {_local_partitions(lake_dir, derived.name, folders, nightly=True)}""")
    return len(folders)


def _local_partitions(lake_dir: Path | str, name: str, partitions: list[str], *, nightly: bool) -> str:
    """``read_parquet`` over ``partitions`` (folder names) of a local lake's ``derived/<name>``; ``nightly``:
    with the partition's night as the ``snapshot_date`` column (a carried state's night is not one of its
    columns)."""
    files = ", ".join(f"'{derived_dir(lake_dir, name) / partition / '*.parquet'}'" for partition in partitions)
    options = ("hive_partitioning = true, union_by_name = true, hive_types = {'snapshot_date': date}" if nightly
               else "hive_partitioning = false")
    return f"read_parquet([{files}], {options})"


def _register_carried(con: duckdb.DuckDBPyConnection, storage: LakeStorage, derived: Derived,
                      fingerprint: str | None) -> int:
    """The carried state as of the previous night of history, or its recomputation (``fallback``, which the
    caller has built) when that night's state was not saved, or saved by other code or prices than tonight's
    (``fingerprint``). Returns 1 when a saved state is used."""
    nights = [row[0] for row in con.execute(
        f"select snapshot_date from {SAVED_NIGHTS} where dataset = ? order by 1", [SNAPSHOTS]).fetchall()]
    previous = nights[-1].isoformat() if nights else None
    files: list[str] = []
    if previous and storage.local:
        folder = derived_dir(Path(storage.root), derived.name) / partition_name(date.fromisoformat(previous))
        files = [str(f) for f in sorted(folder.glob("*.parquet"))]
    elif previous:
        files = published_partitions(storage, storage.path("derived", derived.name)).get(previous, [])
    if files and storage.local:
        listed = ", ".join(f"'{f}'" for f in files)
        saved = f"read_parquet([{listed}], hive_partitioning = false)"
    elif files:
        # One night's files, without the partition column: a state's rows may have a snapshot_date of their own.
        import pyarrow.dataset as ds

        con.register(derived.registered, ds.dataset(files, format="parquet", filesystem=storage.fs))
        saved = derived.registered
    if not files or not _saved_under(con, saved, fingerprint):
        con.execute(f"create or replace view {derived.past_view} as select * from {derived.fallback}")
        return 0
    con.execute(f"create or replace view {derived.past_view} as select * exclude ({FINGERPRINT}) from {saved}")
    return 1


FINGERPRINT = "_fingerprint"  # column of a saved carried state: the fingerprint of the code that made it


def _saved_under(con: duckdb.DuckDBPyConnection, saved: str, fingerprint: str | None) -> bool:
    """Whether every row of a saved state was made under ``fingerprint`` (a state saved by an earlier
    version without the column was not)."""
    columns = {row[0] for row in con.execute(f"describe select * from {saved}").fetchall()}
    if FINGERPRINT not in columns:
        return False
    return con.execute(f"select count(*) from (select 1 from {saved} where {FINGERPRINT} is distinct from ? "
                       "limit 1)", [fingerprint]).fetchall() == [(0,)]


def carried_fingerprints(con: duckdb.DuckDBPyConnection, models: dict) -> dict[str, str]:
    """Per carried state, a digest of the code that makes it (the model, its recomputation, ``made_by``)
    and, for a state holding costs, of the price book (``config.price_book``, loaded by then) and the
    pricing model: a night is added to a saved state only when it was made the way tonight's build would
    make it."""
    import hashlib

    prices = con.execute("select plan, currency, hourly_price::varchar, effective_from::varchar "
                         "from config.price_book order by all").fetchall()
    fingerprints = {}
    for derived in CARRIED:
        made_by = [models[name].sql for name in (derived.model, derived.fallback, *derived.made_by)]
        if derived.priced:
            made_by += [prices, models[PRICING_MODEL].sql]
        fingerprints[derived.name] = hashlib.sha256(repr(made_by).encode()).hexdigest()[:16]
    return fingerprints


def _remote_nights(storage: LakeStorage, name: str, snapshot_date: date,
                   retention_days: int | None, requires: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The published derived partitions (night -> files) before ``snapshot_date`` in the window."""
    oldest = snapshot_date - timedelta(days=retention_days - 1) if retention_days else date.min
    return {day: files for day, files in published_partitions(storage, storage.path("derived", name)).items()
            if oldest <= date.fromisoformat(day) < snapshot_date and _has_columns(files, requires, storage.fs)}


def _remote_past(storage: LakeStorage, snapshot_date: date, retention_days: int | None, name: str = SNAPSHOTS,
                 requires: tuple[str, ...] = ()):
    """(nights, pyarrow dataset or None) of the derived partitions before ``snapshot_date`` in the window."""
    base = storage.path("derived", name)
    nights = _remote_nights(storage, name, snapshot_date, retention_days, requires)
    files = [f for day_files in nights.values() for f in day_files]
    return len(nights), (partitioned_dataset(storage, files, base) if files else None)


def _register_remote_past(con: duckdb.DuckDBPyConnection, storage: LakeStorage, snapshot_date: date,
                          retention_days: int, derived: Derived) -> int:
    count, dataset = _remote_past(storage, snapshot_date, retention_days, derived.name, derived.requires)
    if dataset is None:
        _empty_past(con, derived)
        return 0
    con.register(derived.registered, dataset)
    con.execute(f"""create or replace view {derived.past_view} as
        select * exclude (snapshot_date), snapshot_date from {derived.registered}""")
    return count


def attach_past(con: duckdb.DuckDBPyConnection, storage: LakeStorage) -> None:
    """Re-register the earlier nights an analyst database's ``derived.machine_snapshots_past`` and
    ``derived.license_intervals_past`` read (the nights before the one it was built for; retention has
    already dropped older ones from the lake). A carried state's eve is read by its build only."""
    built = con.execute("select count(*) from duckdb_tables() "
                        "where schema_name = 'main' and table_name = 'build_info'").fetchall()
    if built != [(1,)]:
        return
    ((night,),) = con.execute("select max(snapshot_date) from main.build_info").fetchall()
    if night is None:
        return
    for derived in DERIVED:
        if derived.carried:
            continue
        # The nights the database holds itself (tonight; for the licence intervals, also the nights a
        # catch-up computed, which its export has since published) are not read from the lake twice.
        held = {row[0].isoformat() for row in con.execute(
            f"select distinct snapshot_date from {derived.model}").fetchall()}
        nights = _remote_nights(storage, derived.name, night, None, derived.requires)
        files = [f for day, day_files in nights.items() if day not in held for f in day_files]
        if files:
            con.register(derived.registered,
                         partitioned_dataset(storage, files, storage.path("derived", derived.name)))


def export_current(con: duckdb.DuckDBPyConnection, lake_dir: Path | str, snapshot_date: date,
                   fingerprints: dict[str, str] | None = None) -> Path | str:
    """Save tonight's per-machine facts and carried states, and every night of licence intervals this build
    computed, as their nights' derived partitions (atomic replace each). The facts go last: a night whose
    facts are saved has its states saved too, which is what the next build looks for."""
    for night in _nights_in(con, LICENSE_INTERVALS):
        _export(con, lake_dir, night, LICENSE_INTERVALS)
    for carried in CARRIED:
        if _nights_in(con, carried, whole=True):
            _export(con, lake_dir, snapshot_date, carried, (fingerprints or {}).get(carried.name))
            _prune_carried(lake_dir, snapshot_date, carried)
    return _export(con, lake_dir, snapshot_date, SNAPSHOT_FACTS)


def check_lake_models(models: dict[str, Model]) -> None:
    """Refuse, before anything is built, a model materialized ``lake`` that the build does not save to the
    lake (``DERIVED``): ``serve_from_lake`` would leave it pointing at the in-memory catalog, gone once the
    database is published."""
    saved = {derived.model for derived in DERIVED}
    unsaved = sorted(name for name, model in models.items() if model.materialization == "lake" and name not in saved)
    if unsaved:
        raise ValueError(f"{', '.join(unsaved)}: materialized lake, but not saved to the lake "
                         "(transforms.history.DERIVED)")


def serve_from_lake(con: duckdb.DuckDBPyConnection, lake_dir: Path | str, snapshot_date: date,
                    models: dict[str, Model]) -> None:
    """Once ``export_current`` has saved them, point the models materialized ``lake`` (built in memory, see
    ``transforms.working``) at their saved partitions: on a local lake the database reads tonight's timeline
    and licence intervals from ``lake/derived``, as it reads the earlier nights, instead of holding a second
    copy (writing a million-row table into the file costs three times building it in memory).

    A model that saved nothing (no interval on the first night) becomes an empty table, and on object storage
    each is copied into the file as before: a database built from a bucket keeps tonight's figures readable
    without attaching the lake (``transforms.inputs.attach_lake``)."""
    local = LakeStorage.of(lake_dir).local
    for derived in DERIVED:
        model = models.get(derived.model)
        if model is None or model.materialization != "lake":
            continue
        nights = [snapshot_date] if derived.carried else _nights_in(con, derived)
        schema, _, table = derived.model.partition(".")
        columns = ", ".join(f'"{name}"' for (name,) in con.execute(
            "select column_name from duckdb_columns() where database_name = ? and schema_name = ? "
            "and table_name = ? order by column_index", [WORK_CATALOG, schema, table]).fetchall())
        con.execute(f"drop view {derived.model}")
        if not (local and nights):
            con.execute(f"create table {derived.model} as select * from {WORK_CATALOG}.{derived.model}")
            continue
        saved = _local_partitions(lake_dir, derived.name, [partition_name(night) for night in nights],
                                  nightly=not derived.carried)
        con.execute(f"create view {derived.model} as select {columns} from {saved}")


def _prune_carried(lake_dir: Path | str, snapshot_date: date, derived: Derived) -> None:
    """A carried state is read only from the eve of the night built: keep the last few (local lake; on
    object storage the retention sweep removes them)."""
    storage = LakeStorage.of(lake_dir)
    if not storage.local:
        return
    oldest = snapshot_date - timedelta(days=CARRIED_KEEP_NIGHTS)
    for folder in derived_dir(lake_dir, derived.name).glob("snapshot_date=*"):
        if date.fromisoformat(folder.name.split("=", 1)[1]) < oldest:
            shutil.rmtree(folder, ignore_errors=True)


def _nights_in(con: duckdb.DuckDBPyConnection, derived: Derived, whole: bool = False) -> list[date]:
    """The nights the built model holds (``whole``: whether it was built at all, as [None])."""
    schema, _, table = derived.model.partition(".")
    # a working model is a view onto the build's in-memory catalog (transforms.working)
    exists = con.execute("select count(*) from (select schema_name, table_name from duckdb_tables() "
                         "where database_name = current_database() union all "
                         "select schema_name, view_name from duckdb_views() where database_name = current_database()) "
                         "where schema_name = ? and table_name = ?",
                         [schema, table]).fetchall()  # fetchall: DuckDB 2 refuses new work on an unfinished result
    if exists != [(1,)]:
        return []
    if whole:
        return [None]
    return [row[0] for row in con.execute(f"select distinct snapshot_date from {derived.model} order by 1").fetchall()]


def _export(con: duckdb.DuckDBPyConnection, lake_dir: Path | str, night: date, derived: Derived,
            fingerprint: str | None = None) -> Path | str:
    rows = (f"select *, '{fingerprint or ''}' as {FINGERPRINT} from {derived.model}" if derived.carried else
            f"select * exclude (snapshot_date) from {derived.model} where snapshot_date = '{night.isoformat()}'")
    storage = LakeStorage.of(lake_dir)
    if not storage.local:
        return _export_remote(con, storage, night, derived, rows)
    root = derived_dir(lake_dir, derived.name)
    staged = root / f"_staging-{uuid.uuid4().hex[:8]}"
    staged.mkdir(parents=True)
    con.execute(f"copy ({rows}) to '{staged / 'part-0.parquet'}' (format parquet, compression zstd)")
    target = root / f"snapshot_date={night.isoformat()}"
    swap_partition(staged, target, uuid.uuid4().hex[:8])
    return target


def _export_remote(con: duckdb.DuckDBPyConnection, storage: LakeStorage, night: date, derived: Derived,
                   rows: str) -> str:
    """Stream the rows to one run-tagged object in the partition, then publish it with a manifest."""
    run_id = f"build-{uuid.uuid4().hex[:12]}"
    partition = storage.path("derived", derived.name, partition_name(night))
    reader = con.sql(rows).to_arrow_reader()
    path = posixpath.join(partition, f"{run_file_prefix(run_id)}0.parquet")
    with pq.ParquetWriter(path, reader.schema, compression="zstd", filesystem=storage.fs) as writer:
        for batch in reader:
            writer.write_batch(batch)
    commit_partition(storage, partition, run_id)
    return storage.url("derived", derived.name, partition_name(night))
