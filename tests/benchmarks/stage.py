"""One benchmark stage in its own process, so its peak RSS is its own: prints one JSON line.

    python -m tests.benchmarks.stage land|build|core|report|floor|pandas DATA_DIR [MACHINES] [DATE]
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

from flows.settings import OutputSettings, Settings


def _settings(data_dir: Path) -> Settings:
    return Settings(output=OutputSettings(data_dir=data_dir))


def land(data_dir: Path, machines: int, night: date) -> dict:
    from datetime import UTC, datetime
    from datetime import time as dtime

    from flows.demo.scale import land_scale_estate
    from flows.lake.writer import Landing

    landing = Landing(_settings(data_dir).output.lake_dir, night,
                      extracted_at=datetime.combine(night, dtime(2, 0), tzinfo=UTC))
    rows = land_scale_estate(landing, machines=machines)
    landing.commit()
    return {"rows": rows}


def build(data_dir: Path, machines: int, night: date) -> dict:
    from transforms.build import build_database

    result = build_database(_settings(data_dir), night)
    # The build's own wall time and peak memory: the view counts below are not part of them.
    build_peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": result.seconds, "peak_rss_mib": build_peak_mib, "models_s": result.step_seconds.get("models"),
            "data_tests_s": result.step_seconds.get("data_tests"),
            "inputs_s": result.step_seconds.get("inputs"), "view_rows": _view_rows(result.database_path),
            "slowest_models": dict(sorted(result.model_seconds.items(), key=lambda kv: -kv[1])[:8]),
            # a model rebuilt on one thread after running out of memory makes the figure slower than usual
            "memory_retries": list(result.memory_retries)}


def _view_rows(database: Path) -> dict[str, int]:
    """Rows of each public view, counted after the build (not timed: views computed on read, such as
    machine_history and license_hours, read the whole history to be counted)."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        views = [row[0] for row in con.execute(
            "select view_name from duckdb_views() where schema_name = 'main' and not internal").fetchall()]
        return {view: con.execute(f"select count(*) from main.{view}").fetchone()[0] for view in views}


def core(data_dir: Path, machines: int, night: date) -> dict:
    """Only the models the verdict needs (``marts.machine_edr_status`` and what it reads), built the way
    the full build builds them: the like-for-like counterpart of the pandas baseline's single verdict.

    Like the build, it gives back each working table's memory once its last reader is built (having run its
    data tests, whose time, as in the build's ``models_s``, is not counted): holding them all to the end made
    the verdict spill more than the build does (10.8 and 11.5 s against 10.6 and 10.3 s at 1M)."""
    import tempfile

    import duckdb

    from transforms.build import _build_model, _limit_resources, _set_variables
    from transforms.inputs import load_config_tables, load_seeds, register_raw
    from transforms.project import SqlProject
    from transforms.working import WorkingTables, attach_work_catalog

    settings, project = _settings(data_dir), SqlProject()
    needed, todo = set(), ["marts.machine_edr_status"]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(project.models[name].depends_on)
    with tempfile.TemporaryDirectory(dir=data_dir) as scratch:
        con = duckdb.connect(str(Path(scratch) / "core.duckdb"))
        _limit_resources(con, settings, Path(scratch) / "spill")
        attach_work_catalog(con)
        _set_variables(con, settings, night)
        load_seeds(con, project, settings)
        load_config_tables(con, settings)
        register_raw(con, settings.output.lake)
        working = WorkingTables(con, project)
        started = time.perf_counter()
        models = [m for m in project.build_order() if m.qualified in needed]
        for model in models:
            _build_model(con, model)
            working.built_model(model)
        seconds = time.perf_counter() - started - working.test_seconds
        verdicts = dict(con.execute("select edr_status, count(*) from marts.machine_edr_status group by 1").fetchall())
        con.close()
    return {"core_s": seconds, "models": len(models), "verdicts": verdicts, "released": sorted(working.released)}


def report(data_dir: Path, machines: int, night: date) -> dict:
    from reports.publish import write_reports

    paths = write_reports(_settings(data_dir), night)
    return {"bytes": {name: Path(p).stat().st_size for name, p in paths.items()}}


def floor(data_dir: Path, machines: int, night: date) -> dict:
    from tests.benchmarks.baselines import physical_floor

    return physical_floor(_settings(data_dir).output.lake_dir)


def pandas_verdict(data_dir: Path, machines: int, night: date) -> dict:
    from tests.benchmarks.baselines import pandas_core_verdict

    return pandas_core_verdict(_settings(data_dir).output.lake_dir, night)


STAGES = {"land": land, "build": build, "core": core, "report": report, "floor": floor, "pandas": pandas_verdict}

if __name__ == "__main__":
    stage, data_dir = sys.argv[1], Path(sys.argv[2])
    machines = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    night = date.fromisoformat(sys.argv[4]) if len(sys.argv) > 4 else date(2026, 11, 28)
    started = time.perf_counter()
    detail = STAGES[stage](data_dir, machines, night)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"stage": stage, "seconds": seconds, "peak_rss_mib": peak_mib, **detail}, default=str))
