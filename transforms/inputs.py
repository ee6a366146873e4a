"""What the models read besides other models: raw Parquet views, CSV seeds and config tables.

Only this module knows where the lake is. A raw dataset with no partition yet (a cloud not configured)
becomes an empty table with the dataset's registered columns, so every model builds on any estate.

A lake on object storage (``output.lake_url``) is read without DuckDB extensions (httpfs cannot be
installed everywhere): each dataset's published files (``flows.lake.storage``: the newest manifest per
partition) become a ``pyarrow.dataset`` registered on the connection as ``_lake_raw__<dataset>``, and
``raw.<dataset>`` is a view over that name. DuckDB pushes the models' ``snapshot_date`` filters and column
choices into the scan, so nothing is copied into the database.

What the analyst database keeps for such a lake: the ``raw.*`` view definitions (and the ``staging.*``
views over them) stay in the file, but a registration lives only as long as its connection, so on a fresh
connection they answer "Table with name _lake_raw__... does not exist" until ``attach_lake(con, url)`` has
registered the lake again (it works on a read-only connection). The raw data is not materialised: it is
the whole retained lake, ``raw_json`` included, and would multiply the database's size. Every public view
(``main.*``) and every intermediate and mart table is complete without the lake.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from flows.lake.datasets import DATASETS, EXTRACT_RUNS_SCHEMA, REJECTS
from flows.lake.storage import LakeStorage, partitioned_dataset, published_partitions
from flows.lake.writer import EXTRACT_RUNS
from flows.settings import Settings
from transforms.project import SqlProject


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def raw_schemas() -> dict[str, pa.Schema]:
    schemas = {name: spec.schema for name, spec in DATASETS.items()}
    schemas[REJECTS.name] = REJECTS.schema
    schemas[EXTRACT_RUNS] = EXTRACT_RUNS_SCHEMA
    return schemas


def register_raw(con: duckdb.DuckDBPyConnection, lake_dir: Path | str) -> dict[str, int]:
    """Create ``raw.<dataset>`` views over the lake's partitions (all retained snapshot dates).

    ``lake_dir`` is a local folder, or an object-store URL read through pyarrow (see the module docstring).
    """
    con.execute("create schema if not exists raw")
    storage = LakeStorage.of(lake_dir)
    if not storage.local:
        return _register_remote_raw(con, storage)
    partitions: dict[str, int] = {}
    for name, schema in raw_schemas().items():
        folder = Path(lake_dir).resolve() / "raw" / name
        files = list(folder.glob("snapshot_date=*/*.parquet"))
        partitions[name] = len({f.parent for f in files})
        if files:
            glob = _quote(str(folder / "snapshot_date=*" / "*.parquet"))
            con.execute(f"""
                create or replace view raw.{name} as
                select * from read_parquet({glob}, hive_partitioning = true, union_by_name = true,
                                           hive_types = {{'snapshot_date': date}})""")
        else:
            _empty_raw_table(con, name, schema)
    return partitions


def _empty_raw_table(con: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema) -> None:
    empty = schema.empty_table().append_column("snapshot_date", pa.array([], pa.date32()))
    con.register("_empty_raw", empty)
    con.execute(f"create or replace table raw.{name} as select * from _empty_raw")
    con.unregister("_empty_raw")


def registered_name(dataset: str) -> str:
    """The connection-local name a remote raw dataset is registered under (``raw.<dataset>`` reads it)."""
    return f"_lake_raw__{dataset}"


def _remote_datasets(storage: LakeStorage) -> dict[str, tuple[int, object | None]]:
    """``{dataset: (published partitions, pyarrow dataset or None when it has none)}``."""
    found: dict[str, tuple[int, object | None]] = {}
    for name, schema in raw_schemas().items():
        base = storage.path("raw", name)
        parts = published_partitions(storage, base)
        files = [f for day_files in parts.values() for f in day_files]
        full = schema.append(pa.field("snapshot_date", pa.date32()))
        found[name] = (len(parts), partitioned_dataset(storage, files, base, full) if files else None)
    return found


def _register_remote_raw(con: duckdb.DuckDBPyConnection, storage: LakeStorage) -> dict[str, int]:
    partitions: dict[str, int] = {}
    for name, (count, dataset) in _remote_datasets(storage).items():
        partitions[name] = count
        if dataset is None:
            _empty_raw_table(con, name, raw_schemas()[name])
            continue
        con.register(registered_name(name), dataset)
        con.execute(f"create or replace view raw.{name} as select * from {registered_name(name)}")
        note = (f"Raw {name} records of every retained night, read from the object-storage lake "
                f"{storage.url()}. Not stored in this file: on a new connection, call "
                f"transforms.inputs.attach_lake(con, lake_url) first.")
        con.execute(f"comment on view raw.{name} is {_quote(note)}")
    return partitions


def attach_lake(con: duckdb.DuckDBPyConnection, lake: str | Path) -> dict[str, int]:
    """Make an analyst database built from an object-storage lake read its ``raw.*`` and ``staging.*``
    views (and ``derived.machine_snapshots_past``) again on this connection, which may be read-only:
    registers the lake's current published files under the names those views read. Returns partitions
    per raw dataset. A local lake needs nothing (its views read the Parquet files directly)."""
    storage = LakeStorage.of(lake)
    if storage.local:
        return {}
    partitions = {}
    for name, (count, dataset) in _remote_datasets(storage).items():
        partitions[name] = count
        if dataset is not None:
            con.register(registered_name(name), dataset)
    from transforms.history import attach_past

    attach_past(con, storage)
    return partitions


def load_seeds(con: duckdb.DuckDBPyConnection, project: SqlProject, settings: Settings) -> None:
    """Load ``sql/seeds/*.csv`` into ``seeds.<name>`` with a ``_row`` column keeping file order.

    A user's extra catalogue (``[evidence] extra_catalogue``) is appended to the built-in EDR rules.
    """
    con.execute("create schema if not exists seeds")
    for path in project.seed_files():
        sources = [path]
        if path.stem == "edr_catalogue" and settings.evidence.extra_catalogue:
            sources.append(Path(settings.evidence.extra_catalogue))
        selects = " union all by name ".join(
            f"select * from read_csv({_quote(str(p))}, header = true, all_varchar = true)" for p in sources)
        con.execute(f"create or replace table seeds.{path.stem} as "
                    f"select row_number() over () as _row, * from ({selects})")
    _type_seed_columns(con)


def _type_seed_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Seeds are read as text (so a user file cannot change their types); cast the few non-text ones."""
    con.execute("alter table seeds.os_families alter os_supported type boolean")
    con.execute("alter table seeds.edr_catalogue alter defender_supported type boolean")
    con.execute("alter table seeds.power_states alter billed type boolean")


def load_config_tables(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Settings the models need, as small tables: plan overrides and defaults, the exemptions file."""
    con.execute("create schema if not exists config")
    plans = settings.plans
    overrides = [("aws", k, v) for k, v in plans.aws_accounts.items()] + [
        ("gcp", k, v) for k, v in plans.gcp_projects.items()]
    defaults = [(c, p) for c, p in (("aws", plans.default_aws), ("gcp", plans.default_gcp)) if p]
    con.execute("create or replace table config.plan_overrides (cloud varchar, scope_id varchar, plan varchar)")
    if overrides:
        con.executemany("insert into config.plan_overrides values (?, ?, ?)", overrides)
    con.execute("create or replace table config.plan_defaults (cloud varchar, plan varchar)")
    if defaults:
        con.executemany("insert into config.plan_defaults values (?, ?)", defaults)
    _load_licensing(con, settings)
    con.execute("create or replace table config.exemptions (machine varchar, reason varchar, expires date)")
    if settings.exemptions.file:
        con.execute(f"""insert into config.exemptions
            select machine, reason, try_cast(expires as date)
            from read_csv({_quote(str(settings.exemptions.file))}, header = true, all_varchar = true)""")


def _load_licensing(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """``config.price_book`` (seed prices plus overrides, in the report currency) and ``config.seat_prices``."""
    licensing = settings.licensing
    con.execute("create or replace table config.price_overrides "
                "(plan varchar, currency varchar, hourly_price double, effective_from date)")
    if licensing.prices:
        con.executemany("insert into config.price_overrides values (?, ?, ?, ?)",
                        [(p.plan, p.currency.upper(), p.hourly, p.effective_from) for p in licensing.prices])
    con.execute("""create or replace table config.price_book as
        select plan, currency, hourly_price, effective_from, 'config' as source from config.price_overrides
        union all
        select plan, currency, cast(hourly_price as double), cast(effective_from as date), source
        from seeds.price_book as s
        where not exists (select 1 from config.price_overrides as o
                          where o.plan = s.plan and o.currency = s.currency
                              and o.effective_from = cast(s.effective_from as date))""")
    con.execute("delete from config.price_book where currency <> ?", [licensing.currency.upper()])
    con.execute("create or replace table config.seat_prices (plan varchar, monthly_price double)")
    if licensing.seat_prices:
        con.executemany("insert into config.seat_prices values (?, ?)", list(licensing.seat_prices.items()))
