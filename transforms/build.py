"""Build the analyst database: inputs, models in dependency order, data tests, documented views.

The database is built under a temporary name next to the target and only moved over it (``os.replace``)
after every data test has passed, so an analyst never sees a half-built database and a reader holding the
old file open keeps reading the old snapshot undisturbed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import duckdb

from flows.settings import Settings
from transforms.contract import publish_views
from transforms.data_tests import run_data_tests
from transforms.history import (
    DERIVED,
    carried_fingerprints,
    check_lake_models,
    export_current,
    register_past,
    register_saved_nights,
    serve_from_lake,
)
from transforms.inputs import load_config_tables, load_seeds, register_raw
from transforms.memory import OutOfMemoryOnOneThread, on_one_thread_if_out_of_memory
from transforms.project import Model, SqlProject
from transforms.working import WorkingTables, attach_work_catalog, table_name

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    database_path: Path
    snapshot_date: date
    models_built: int
    tests_run: int
    seconds: float
    step_seconds: dict[str, float] = field(default_factory=dict)
    model_seconds: dict[str, float] = field(default_factory=dict)  # where a slow build spends its time
    # models that ran out of memory and were built again on one thread (see _build_model), and data tests
    # run again on one thread ("data test <name>")
    memory_retries: tuple[str, ...] = ()


class NoSnapshotError(RuntimeError):
    """The lake has no snapshot to build from."""


def latest_snapshot(lake: Path | str) -> date:
    """The newest snapshot date present in the lake (any dataset), local folder or object storage."""
    from flows.lake.storage import published_dates

    dates = published_dates(lake)
    if not dates:
        raise NoSnapshotError(f"no snapshot in {lake}: run `edrcov run` first")
    return dates[-1]


def _set_variables(con: duckdb.DuckDBPyConnection, settings: Settings, snapshot_date: date) -> None:
    """Run parameters the models read with ``getvariable``; constants, so Parquet partitions are pruned.

    ``as_of`` is the end of the snapshot day (UTC): freshness is judged against the snapshot, not the
    wall clock, so rebuilding an old night gives the same verdicts.
    """
    as_of = datetime.combine(snapshot_date + timedelta(days=1), dtime(0), tzinfo=UTC)
    values = {
        "snapshot_date": snapshot_date,
        "as_of": as_of,
        "stale_after_days": settings.evidence.stale_after_days,
        "exempt_tag": settings.exemptions.tag,
        "exempt_until_tag": settings.exemptions.until_tag,
        "currency": settings.licensing.currency.upper(),
    }
    for name, value in values.items():
        con.execute(f"set variable {name} = ?", [value])


def _limit_resources(con: duckdb.DuckDBPyConnection, settings: Settings, spill_dir: Path) -> None:
    """Bound the build's memory: DuckDB spills joins and aggregates to ``spill_dir`` beyond the limit.

    Insertion order is not preserved (no model relies on it: marts that need an order say ORDER BY), which
    lets DuckDB stream large CREATE TABLE AS without buffering their input.
    """
    con.execute(f"set memory_limit = '{settings.build.memory_limit}'")  # pattern-validated in settings
    con.execute("set temp_directory = ?", [str(spill_dir)])
    con.execute("set preserve_insertion_order = false")
    con.execute("set enable_progress_bar = false")  # a nightly job's log is not a terminal
    if settings.build.threads:
        con.execute(f"set threads = {int(settings.build.threads)}")


class ModelError(RuntimeError):
    """A model failed to build; the message names its file."""


NIGHT_BY_NIGHT = re.compile(r"^-- night by night: (\w+\.\w+)", re.MULTILINE)


def _build_model(con: duckdb.DuckDBPyConnection, model: Model) -> bool:
    """Build the model (``_create``); True when it ran out of memory and had to be built again on one
    thread (``transforms.memory``: the night's build must not fail on how two threads' partitions happened
    to interleave near the memory limit). One that fails on one thread too fails the build."""
    where = f"sql/{model.layer}/{model.path.name}"
    try:
        return on_one_thread_if_out_of_memory(con, lambda: _create(con, model), where)[1]
    except OutOfMemoryOnOneThread as exc:
        raise ModelError(str(exc)) from exc.__cause__
    except duckdb.OutOfMemoryException as exc:  # with one thread set already: nothing left to try
        raise ModelError(f"{where}: {exc}") from exc


def _create(con: duckdb.DuckDBPyConnection, model: Model) -> None:
    """``create or replace`` the model. A model whose header says ``-- night by night: <model>`` is
    evaluated once per ``snapshot_date`` of that model, with the variable ``computing_night`` set (NULL
    otherwise), and the nights appended: a catch-up of many nights then needs one night's memory.

    A working model's table goes to the build's in-memory catalog (``transforms.working``), and a view
    under its usual name points there. Running out of memory is left to ``_build_model``; any other
    DuckDB error becomes a ``ModelError`` naming the model."""
    con.execute(f"create schema if not exists {model.layer}")
    body = model.sql.strip().rstrip(";")
    per_night = NIGHT_BY_NIGHT.search(model.sql)
    target = table_name(con, model)
    kind = "view" if model.materialization in ("view", "working view") else "table"
    try:
        if not per_night:
            con.execute(f"create or replace {kind} {target} as {body}")
        else:
            nights = [row[0] for row in con.execute(
                f"select distinct snapshot_date from {per_night.group(1)} order by 1").fetchall()]
            con.execute("set variable computing_night = null::date")
            con.execute(f"create or replace table {target} as select * from ({body}) where false")
            for night in nights:
                con.execute("set variable computing_night = ?", [night])
                con.execute(f"insert into {target} {body}")
            con.execute("reset variable computing_night")
        if target != model.qualified:
            con.execute(f"create or replace view {model.qualified} as select * from {target}")
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as exc:
        raise ModelError(f"sql/{model.layer}/{model.path.name}: {exc}") from exc


def _write_build_info(con: duckdb.DuckDBPyConnection, snapshot_date: date, settings: Settings) -> None:
    con.execute("""create or replace table main.build_info as
        select ?::date as snapshot_date, now() as built_at, ?::integer as stale_after_days""",
                [snapshot_date, settings.evidence.stale_after_days])
    con.execute("comment on table main.build_info is 'When this database was built, for which snapshot, "
                "with which staleness threshold.'")


def build_database(settings: Settings, snapshot_date: date | None = None, *,
                   project: SqlProject | None = None) -> BuildResult:
    """Build the database for ``snapshot_date`` (default: the lake's newest) and publish it atomically."""
    project = project or SqlProject()
    check_lake_models(project.models)
    lake_dir, target = settings.output.lake, settings.output.database_path
    snapshot_date = snapshot_date or latest_snapshot(lake_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f".{target.name}.building-{uuid.uuid4().hex[:8]}")
    started = time.perf_counter()
    steps: dict[str, float] = {}
    model_seconds: dict[str, float] = {}
    spill_dir = building.with_name(f"{building.name}.spill")  # this build's own: builds may overlap
    con = duckdb.connect(str(building))
    past_registered: set = set()
    retried: list[str] = []
    try:
        _limit_resources(con, settings, spill_dir)
        attach_work_catalog(con)
        mark = time.perf_counter()
        _set_variables(con, settings, snapshot_date)
        load_seeds(con, project, settings)
        load_config_tables(con, settings)
        fingerprints = carried_fingerprints(con, project.models)
        register_raw(con, lake_dir)
        register_saved_nights(con, lake_dir, snapshot_date, settings.history.retention_days)
        steps["inputs"] = time.perf_counter() - mark
        mark = time.perf_counter()
        order = project.build_order()
        working = WorkingTables(con, project, keep=frozenset(derived.model for derived in DERIVED))
        def ensure_past(sql: str) -> None:
            """Register the earlier nights ``sql`` reads, once each, when the first model needs them (the
            model they mirror, or a carried state's fallback, is built by then)."""
            for derived in DERIVED:
                if derived.past_view in sql and derived not in past_registered:
                    past_registered.add(derived)
                    if derived.fallback:
                        fallback = project.models[derived.fallback]
                        ensure_past(fallback.sql)
                        if _build_model(con, fallback):
                            retried.append(fallback.qualified)
                        working.built_model(fallback)
                    register_past(con, lake_dir, snapshot_date, settings.history.retention_days, derived,
                                  fingerprints.get(derived.name))

        fallbacks = {derived.fallback for derived in DERIVED if derived.fallback}
        for model in order:
            if model.qualified in fallbacks:
                continue  # built by ensure_past, when the state it recomputes is first needed
            ensure_past(model.sql)
            model_started = time.perf_counter()
            if _build_model(con, model):
                retried.append(model.qualified)
            model_seconds[model.qualified] = time.perf_counter() - model_started
            working.built_model(model)
        steps["models"] = time.perf_counter() - mark - working.test_seconds
        mark = time.perf_counter()
        retried.extend(working.retried)  # data tests of working tables, run while the models were built
        tests_run = run_data_tests(con, project, tested=frozenset(working.released),
                                   earlier_failures=tuple(working.failures), retried=retried)
        steps["data_tests"] = time.perf_counter() - mark + working.test_seconds
        mark = time.perf_counter()
        export_current(con, lake_dir, snapshot_date, fingerprints)
        serve_from_lake(con, lake_dir, snapshot_date, project.models)
        steps["export"] = time.perf_counter() - mark
        mark = time.perf_counter()
        working.finish()
        publish_views(con, project)
        _write_build_info(con, snapshot_date, settings)
        con.execute("checkpoint")
        steps["publish"] = time.perf_counter() - mark
    except BaseException:
        con.close()
        building.unlink(missing_ok=True)
        Path(f"{building}.wal").unlink(missing_ok=True)
        shutil.rmtree(spill_dir, ignore_errors=True)
        raise
    con.close()
    shutil.rmtree(spill_dir, ignore_errors=True)
    os.replace(building, target)
    seconds = time.perf_counter() - started
    log.info("built %s for %s: %d models, %d data tests in %.1fs", target, snapshot_date, len(order),
             tests_run, seconds)
    return BuildResult(target, snapshot_date, len(order), tests_run, seconds, steps, model_seconds,
                       tuple(retried))
