"""The build: atomic replace, data tests that fail loudly, the documented contract, model conventions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date

import duckdb
import pytest

import transforms.build as build_module
from tests import builders as b
from transforms.build import build_database
from transforms.data_tests import DataTestError
from transforms.project import SqlProject

DAY = date(2026, 11, 28)
READER = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select count(*) from machines").fetchone()[0], flush=True)
sys.stdin.readline()
print(con.execute("select count(*) from machines").fetchone()[0], flush=True)
"""


def _vms(n):
    return {"azure__virtual_machines": [(b.azure_vm(f"vm-{i}"), {}) for i in range(n)]}


def test_reader_holding_the_old_file_is_unaffected_by_a_rebuild(tmp_path):
    settings = b.land(tmp_path, _vms(2))
    build_database(settings, DAY)
    path = str(settings.output.database_path)
    reader = subprocess.Popen([sys.executable, "-c", READER, path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "2"
        settings = b.land(tmp_path, _vms(5))
        build_database(settings, DAY)  # must not block on, or disturb, the open reader
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "2"
    finally:
        reader.kill()
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("select count(*) from machines").fetchone() == (5,)


def test_failing_data_test_keeps_the_old_database(tmp_path):
    settings = b.land(tmp_path, _vms(2))
    build_database(settings, DAY)
    before = settings.output.database_path.stat().st_mtime_ns
    settings = b.land(tmp_path, {"azure__virtual_machines": [(b.azure_vm("dup"), {})]})
    tests_dir = tmp_path / "sqlproj"
    shutil.copytree(SqlProject().root, tests_dir)
    (tests_dir / "tests" / "no_machine_named_dup.sql").write_text(
        "-- Fails when a machine is named dup.\nselect * from marts.machines where machine_name = 'dup'\n")
    with pytest.raises(DataTestError, match="no_machine_named_dup"):
        build_database(settings, DAY, project=SqlProject(tests_dir))
    assert settings.output.database_path.stat().st_mtime_ns == before
    assert not list(settings.output.database_path.parent.glob(".*building*"))


def test_public_views_are_documented_with_comments(tmp_path):
    settings = b.land(tmp_path, _vms(1))
    build_database(settings, DAY)
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        views = dict(con.execute("select view_name, comment from duckdb_views() where schema_name = 'main' "
                                 "and not internal").fetchall())
        undocumented = con.execute("select table_name, column_name from duckdb_columns() where schema_name = 'main' "
                                   "and table_name in (select view_name from duckdb_views() where not internal) "
                                   "and comment is null").fetchall()
    assert {"machines", "edr_evidence", "machine_edr_status", "recommendations", "coverage_summary",
            "extract_runs"} <= set(views)
    assert all(views.values()) and undocumented == []


def test_every_model_states_its_grain_and_has_a_test():
    project = SqlProject()
    for model in project.models.values():
        assert model.sql.startswith("--"), f"{model.path} must open with its purpose"
        assert "grain:" in model.header.lower(), f"{model.path} must state its grain"
    for model in project.models.values():
        if model.materialization == "view":
            continue  # staging and pass-through views: their consumers carry the tests
        spec = project.schema.get(model.qualified) or {}
        column_tests = [c for c in (spec.get("columns") or {}).values()
                        if {"not_null", "accepted_values", "relationship"} & set(c or {})]
        assert spec.get("unique") or column_tests, f"{model.qualified} has no data test in sql/schema.yml"


def test_views_whose_grain_is_tested_on_the_machine_table_are_plain_projections_of_it():
    """sql/schema.yml tests the machines' grain once, on int_machine_status: marts.machines,
    marts.machine_edr_status and int_machine_snapshot have no uniqueness test of their own because each is a
    projection of it (the snapshot's crossed with the one-row snapshot instant). A join, a filter or an
    aggregate added to one of them would need its own test back."""
    import re

    from transforms.project import _strip_comments

    project = SqlProject()
    status = "intermediate.int_machine_status"
    assert project.schema[status]["unique"] == ["machine_key"]
    projections = {"marts.machines": {status}, "marts.machine_edr_status": {status},
                   "intermediate.int_machine_snapshot": {status, "intermediate.int_snapshot_instant"}}
    for name, reads in projections.items():
        model = project.models[name]
        assert model.materialization == "view" and model.depends_on == reads, name
        body = " ".join(_strip_comments(model.sql).lower().split())
        assert not re.search(r"\b(where|group by|distinct|union|qualify|having|limit|unnest)\b", body), name
        assert len(re.findall(r"\bjoin\b", body)) == body.count("cross join") == len(reads) - 1, name
        assert "unique" not in (project.schema.get(name) or {}), name


def test_readme_view_reference_matches_the_schema():
    from pathlib import Path

    from transforms.docs import current_block, render_views

    readme = Path(__file__).resolve().parents[2] / "README.md"
    assert current_block(readme) == render_views(), "run: python -m transforms.docs README.md"


def _scale_estate(tmp_path, machines):
    from datetime import UTC, datetime, time

    from flows.demo.scale import land_scale_estate
    from flows.lake.writer import Landing
    from flows.settings import OutputSettings, Settings

    settings = Settings(output=OutputSettings(data_dir=tmp_path))
    landing = Landing(settings.output.lake_dir, DAY, extracted_at=datetime.combine(DAY, time(2), tzinfo=UTC))
    land_scale_estate(landing, machines=machines)
    landing.commit()
    return settings


def _verdicts(settings):
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        return con.execute("select machine_key, edr_status, status_reason, edr_products, rule_id "
                           "from machine_edr_status order by machine_key").fetchall()


def test_build_memory_limit_spills_instead_of_failing_and_cleans_up(tmp_path):
    """A memory limit far below what the estate needs in memory still gives the same verdicts (DuckDB
    spills to the build's own folder, removed afterwards); one too small to work fails cleanly."""
    settings = _scale_estate(tmp_path, 20_000)
    build_database(settings, DAY)
    unlimited = _verdicts(settings)
    before = settings.output.database_path.stat().st_mtime_ns

    small = settings.model_copy(update={"build": settings.build.model_copy(update={"memory_limit": "128MB",
                                                                                   "threads": 1})})
    build_database(small, DAY)
    assert _verdicts(small) == unlimited
    assert settings.output.database_path.stat().st_mtime_ns != before

    tiny = settings.model_copy(update={"build": settings.build.model_copy(update={"memory_limit": "1MB"})})
    before = settings.output.database_path.stat().st_mtime_ns
    with pytest.raises(Exception, match="(?i)memory"):
        build_database(tiny, DAY)
    assert settings.output.database_path.stat().st_mtime_ns == before
    assert not [p for p in settings.output.database_path.parent.iterdir() if "building" in p.name]


def test_build_memory_limit_is_validated():
    from pydantic import ValidationError

    from flows.settings import BuildSettings

    assert BuildSettings(memory_limit="2GiB").memory_limit == "2GiB"
    for bad in ("lots", "2 GB; drop table x", "-1GB"):
        with pytest.raises(ValidationError):
            BuildSettings(memory_limit=bad)


def test_tested_night_checks_only_the_night_being_built():
    """History models re-test only tonight: a duplicate on an earlier night (tested when it was built) is
    not reported again, one tonight is."""
    from types import SimpleNamespace

    from transforms.data_tests import generic_tests

    project = SimpleNamespace(schema={"main.h": {"tested_night": "snapshot_date", "unique": ["k", "snapshot_date"],
                                                 "columns": {"k": {"not_null": True,
                                                                   "relationship": "main.m.k"}}}})
    con = duckdb.connect()
    con.execute("set variable snapshot_date = date '2026-11-28'")
    con.execute("create table m as select 'a' as k")
    con.execute("create table h as select * from (values ('a', date '2026-11-27'), ('a', date '2026-11-27'), "
                "(null, date '2026-11-27'), ('zz', date '2026-11-27'), ('a', date '2026-11-28')) t(k, snapshot_date)")
    failing = lambda: [t.name for t in generic_tests(project) if con.execute(t.sql).fetchall()]  # noqa: E731
    assert failing() == []
    con.execute("insert into h values ('a', date '2026-11-28'), (null, date '2026-11-28'), ('zz', date '2026-11-28')")
    assert failing() == ["unique(main.h: k, snapshot_date)", "not_null(main.h.k)", "relationship(main.h.k -> main.m.k)"]


def test_uniqueness_screened_by_key_hashes_still_reports_each_duplicate_exactly():
    """A uniqueness test first groups hashes of the key; when that finds a repeated hash the exact test
    runs and reports the duplicated keys (one or several columns, NULL keys included) with their count."""
    from types import SimpleNamespace

    from transforms.data_tests import generic_tests, run_data_tests

    project = SimpleNamespace(schema={"main.one": {"unique": ["k"]}, "main.two": {"unique": ["k", "n"]}},
                              singular_tests=lambda: [])
    con = duckdb.connect()
    con.execute("create table one as select * from (values ('a'), ('b'), (null)) t(k)")
    con.execute("create table two as select * from (values ('a', 1), ('a', 2), ('b', 1)) t(k, n)")
    assert all(t.screen and not con.execute(t.screen).fetchall() for t in generic_tests(project))
    assert run_data_tests(con, project) == 2
    con.execute("insert into one values ('b'), (null), (null)")
    con.execute("insert into two values ('a', 2)")
    with pytest.raises(DataTestError) as raised:
        run_data_tests(con, project)
    assert {(f.name, f.failing_rows) for f in raised.value.failures} == {
        ("unique(main.one: k)", 2), ("unique(main.two: k, n)", 1)}
    assert sorted(raised.value.failures[0].sample, key=str) == [("b", 2), (None, 3)]


def test_working_tables_feed_the_build_but_stay_out_of_the_published_database(tmp_path):
    """Working models (``-- materialized: working``) are read by later models and by data tests during the
    build, and are gone from the published file: every view left in it still answers, and none refers to
    the build's in-memory catalog."""
    project = SqlProject()
    working = sorted(name for name, model in project.models.items() if model.is_working)
    assert {"intermediate.int_machines__unioned", "intermediate.int_machine_identities"} <= set(working)
    settings = b.land(tmp_path, _vms(3))
    build_database(settings, DAY)
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        relations = {f"{schema}.{name}" for schema, name in con.execute(
            "select schema_name, table_name from duckdb_tables() union all "
            "select schema_name, view_name from duckdb_views() where not internal").fetchall()}
        assert not relations & set(working)
        assert {"intermediate.int_edr_evidence", "marts.machine_edr_status"} <= relations
        assert [db for (db,) in con.execute("select database_name from duckdb_databases() "
                                           "where not internal").fetchall()] == ["edrcov"]
        views = con.execute("select schema_name, view_name, sql from duckdb_views() where not internal").fetchall()
        assert not [name for _, name, sql in views if "build_work" in sql]
        # (the build's own recomputation views read the night being built from a variable)
        con.execute("set variable snapshot_date = ?", [DAY])
        for schema, name, _ in views:
            con.execute(f"select * from {schema}.{name} limit 0")  # binds: nothing it reads is missing
        assert con.execute("select count(*) from machines").fetchone() == (3,)

    # A data test reading a working table runs against it (and here fails the build).
    tests_dir = tmp_path / "sqlproj"
    shutil.copytree(project.root, tests_dir)
    (tests_dir / "tests" / "no_identities.sql").write_text(
        "-- Fails when any machine has an identifier.\nselect * from intermediate.int_machine_identities\n")
    with pytest.raises(DataTestError, match="no_identities: 3 failing"):
        build_database(settings, DAY, project=SqlProject(tests_dir))


def test_nothing_that_outlives_the_build_may_read_a_working_table(tmp_path):
    from transforms.project import ProjectError

    root = tmp_path / "sqlproj"
    shutil.copytree(SqlProject().root, root)
    reader = root / "marts" / "identities_view.sql"
    reader.write_text("-- Grain: one row per identifier.\n-- materialized: view\n"
                      "select * from intermediate.int_machine_identities\n")
    with pytest.raises(ProjectError, match="identities_view.sql is a view but reads working"):
        SqlProject(root).build_order()
    reader.unlink()
    schema = root / "schema.yml"
    schema.write_text(schema.read_text().replace(
        "  intermediate.int_machine_identities:\n", "  intermediate.int_machine_identities:\n    public: true\n", 1))
    with pytest.raises(ProjectError, match="cannot be public views"):
        SqlProject(root).build_order()


def test_working_models_are_built_just_before_the_first_model_that_needs_them():
    """A working table held in memory while unrelated models run only adds to the build's peak: each is
    built right before its first reader (after all it reads itself), never earlier."""
    project = SqlProject()
    order = [model.qualified for model in project.build_order()]
    position = {name: i for i, name in enumerate(order)}
    assert sorted(order) == sorted(project.models)
    for name, model in project.models.items():
        assert all(position[dependency] < position[name] for dependency in model.depends_on), name
    readers = {name: [other for other, model in project.models.items() if name in model.depends_on]
               for name in project.models}
    for name, model in project.models.items():
        if not model.is_working or not readers[name]:
            continue
        first_reader = min(position[reader] for reader in readers[name])
        # only other working models feeding that same reader may sit in between
        between = order[position[name] + 1:first_reader]
        assert all(project.models[other].is_working for other in between), (name, between)
    # the plan, inventory and exemption tables wait for the verdict, not for the evidence join
    assert position["intermediate.int_edr_evidence"] < position["intermediate.int_machine_plans"]
    assert position["intermediate.int_edr_evidence"] < position["intermediate.int_machine_inventory"]


def test_every_column_of_a_working_table_is_read_by_a_later_model(tmp_path, monkeypatch):
    """A working table exists only for the models that read it, in the build's memory: a column none of them
    reads (nor a data test) is memory and work for nothing. The inventory's list of every source seen, an
    aggregate over a million machines that nothing read, was one."""
    import re

    from transforms.project import _strip_comments

    project = SqlProject()
    columns: dict[str, list[str]] = {}
    build_model = build_module._build_model

    def recording(con, model):
        retried = build_model(con, model)
        if model.is_working:
            columns[model.qualified] = [row[0] for row in con.execute(f"describe {model.qualified}").fetchall()]
        return retried

    monkeypatch.setattr(build_module, "_build_model", recording)
    build_database(b.land(tmp_path, _vms(3)), DAY)
    assert set(columns) == {name for name, model in project.models.items() if model.is_working}
    for name, names in columns.items():
        read = " ".join([_strip_comments(model.sql) for model in project.models.values() if name in model.depends_on]
                        + [str(project.schema.get(name) or "")])
        assert [column for column in names if not re.search(rf"\b{column}\b", read)] == [], name


def _tiny_project(root, models: dict[str, str], schema: str = "models: {}\n") -> SqlProject:
    for layer in ("staging", "intermediate", "marts", "tests"):
        (root / layer).mkdir(parents=True, exist_ok=True)
    for name, sql in models.items():
        layer, _, stem = name.partition(".")
        (root / layer / f"{stem}.sql").write_text(sql)
    (root / "schema.yml").write_text(schema)
    return SqlProject(root)


def test_a_working_view_is_computed_by_its_readers_and_keeps_what_it_reads_until_it_is_dropped(tmp_path):
    """A working view (``-- materialized: working view``) holds nothing: its readers compute it from the
    working tables it reads, so those stay until the view's own readers are built and its tests have run,
    then go with it. Dropping a table once the view over it was merely created would break the view's
    first reader; a view left in the published file would point at nothing."""
    from transforms.working import WORK_CATALOG, WorkingTables, attach_work_catalog

    project = _tiny_project(tmp_path / "sqlproj", {
        "intermediate.machines": "-- Grain: one row per machine.\n-- materialized: working\n"
                                 "select * from (values ('m1', 'a'), ('m2', 'b')) as t(machine_key, alias)\n",
        "intermediate.aliases": "-- Grain: one row per alias.\n-- materialized: working view\n"
                                "select alias, machine_key from intermediate.machines\n",
        "marts.resolved": "-- Grain: one row per alias.\nselect alias, machine_key from intermediate.aliases\n",
        "marts.counted": "-- Grain: one row.\nselect count(*) as n from intermediate.aliases\n",
    }, schema="models:\n  intermediate.aliases:\n    unique: [alias]\n")
    assert project.models["intermediate.aliases"].materialization == "working view"
    assert project.models["intermediate.aliases"].is_working
    events = []
    with duckdb.connect(str(tmp_path / "db.duckdb")) as con:
        attach_work_catalog(con)
        working = WorkingTables(con, project)
        for model in project.build_order():
            build_module._build_model(con, model)
            working.built_model(model)
            events.append((model.qualified, sorted(working.released)))
            if model.qualified == "intermediate.aliases":  # a view in the database, nothing in memory
                assert con.execute(f"select count(*) from duckdb_tables() where database_name = '{WORK_CATALOG}' "
                                   "and table_name = 'aliases'").fetchone() == (0,)
                assert con.execute("select count(*) from duckdb_views() where view_name = 'aliases' "
                                   "and database_name = current_database()").fetchone() == (1,)
        assert con.execute("select * from marts.resolved order by 1").fetchall() == [("a", "m1"), ("b", "m2")]
        assert con.execute("select n from marts.counted").fetchone() == (2,)
        working.finish()
        assert con.execute("select count(*) from duckdb_views() where view_name in ('aliases', 'machines') "
                           "and not internal").fetchone() == (0,)
    released_after = {name: next(built for built, released in events if name in released)
                      for name in ("intermediate.machines", "intermediate.aliases")}
    last_reader = max(events.index(e) for e in events if e[0] in ("marts.resolved", "marts.counted"))
    assert released_after["intermediate.aliases"] == events[last_reader][0]
    assert released_after["intermediate.machines"] == events[last_reader][0]  # with the view, not before


def test_working_tables_are_tested_and_dropped_once_their_last_reader_is_built(tmp_path, monkeypatch):
    """A working table's memory is given back as soon as no model still to come reads it; its data tests
    run first and a failure still fails the build, listed with the others."""
    import transforms.working as working

    events = []
    original_build, original_release = build_module._build_model, working.WorkingTables._release
    monkeypatch.setattr(build_module, "_build_model",
                        lambda con, model: (events.append(("built", model.qualified)), original_build(con, model)))
    monkeypatch.setattr(working.WorkingTables, "_release",
                        lambda self, model: (events.append(("released", model.qualified)),
                                             original_release(self, model)))
    settings = b.land(tmp_path, _vms(2))
    build_database(settings, DAY)
    released = [name for kind, name in events if kind == "released"]
    position = {event: k for k, event in enumerate(events)}
    assert {"intermediate.int_azure__virtual_machines", "intermediate.int_machine_plans"} <= set(released)
    for name in released:
        readers = [m for m, model in SqlProject().models.items() if name in model.depends_on]
        assert max(position[("built", reader)] for reader in readers) < position[("released", name)]
    assert position[("released", "intermediate.int_azure__virtual_machines")] < position[
        ("built", "intermediate.int_edr_evidence")]

    root = tmp_path / "sqlproj"
    shutil.copytree(SqlProject().root, root)
    schema = root / "schema.yml"
    schema.write_text(schema.read_text().replace(
        "  intermediate.int_machine_plans:\n",
        "  intermediate.int_machine_plans:\n    columns:\n      plan_status: {accepted_values: [p3]}\n", 1))
    (root / "tests" / "no_machine_named_vm_0.sql").write_text(
        "-- Fails when a machine is named vm-0.\nselect * from marts.machines where machine_name = 'vm-0'\n")
    with pytest.raises(DataTestError) as raised:
        build_database(settings, DAY, project=SqlProject(root))
    assert {f.name for f in raised.value.failures} == {
        "accepted_values(intermediate.int_machine_plans.plan_status)", "no_machine_named_vm_0"}


class _RunsOutOfMemory:
    """A DuckDB connection whose statements starting with ``statement`` and naming ``model`` (by default:
    the model's ``create or replace``) fail with DuckDB's out-of-memory error while more than ``fits_on``
    threads are set (always, when ``fits_on`` is 0)."""

    def __init__(self, con, model: str, fits_on: int, statement: str = "create or replace"):
        self._con, self._model, self._fits_on, self._statement, self.failures = con, model, fits_on, statement, 0

    def execute(self, sql, *args):
        threads = int(self._con.execute("select current_setting('threads')").fetchone()[0])
        if sql.startswith(self._statement) and self._model in sql and threads > self._fits_on:
            self.failures += 1
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block of size 256.0 KiB")
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def _one_model(tmp_path):
    from transforms.project import Model

    path = tmp_path / "wide.sql"
    path.write_text("-- Grain: one row.\nselect 1 as a\n")
    return Model("marts", "wide", path, path.read_text(), frozenset())


def test_a_model_that_runs_out_of_memory_is_built_again_on_one_thread(tmp_path, caplog):
    """Whether a join fits near the memory limit can depend on how two threads' partitions interleave: the
    model is built once more on one thread, with a warning, and the thread setting is given back."""
    model = _one_model(tmp_path)
    with duckdb.connect() as raw:
        raw.execute("set threads = 2")
        con = _RunsOutOfMemory(raw, "marts.wide", fits_on=1)
        with caplog.at_level("WARNING", logger="transforms.memory"):
            assert build_module._build_model(con, model) is True
        assert con.failures == 1
        assert raw.execute("select a from marts.wide").fetchall() == [(1,)]
        assert raw.execute("select current_setting('threads')").fetchone() == (2,)
        assert "wide.sql ran out of memory on 2 threads; running it again on one thread" in caplog.text

        # out of memory on one thread too: the build fails, naming the model, and threads are given back
        con = _RunsOutOfMemory(raw, "marts.wide", fits_on=0)
        with pytest.raises(build_module.ModelError, match=r"wide.sql \(on one thread, after running out of memory"):
            build_module._build_model(con, model)
        assert con.failures == 2
        assert raw.execute("select current_setting('threads')").fetchone() == (2,)

        # already on one thread: nothing left to try
        raw.execute("set threads = 1")
        con = _RunsOutOfMemory(raw, "marts.wide", fits_on=0)
        with pytest.raises(build_module.ModelError, match="wide.sql: Out of Memory"):
            build_module._build_model(con, model)
        assert con.failures == 1


def test_the_build_reports_the_models_rebuilt_after_running_out_of_memory(tmp_path, monkeypatch):
    settings = b.land(tmp_path, _vms(2))
    original = build_module._create
    failed = []

    def create(con, model):
        threads = int(con.execute("select current_setting('threads')").fetchone()[0])
        if model.qualified == "intermediate.int_machine_status" and threads > 1:
            failed.append(threads)
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")
        original(con, model)

    monkeypatch.setattr(build_module, "_create", create)
    settings = settings.model_copy(update={"build": settings.build.model_copy(update={"threads": 2})})
    result = build_database(settings, DAY)
    assert failed == [2]
    assert result.memory_retries == ("intermediate.int_machine_status",)
    with duckdb.connect(str(result.database_path), read_only=True) as con:
        assert con.execute("select count(*) from machine_edr_status").fetchone() == (2,)


def test_the_build_reports_the_data_tests_run_again_after_running_out_of_memory(tmp_path, monkeypatch):
    """A data test run again on one thread is named in ``memory_retries`` beside the models, whether it ran
    while the models were built (a working table's, before its memory is given back) or after them."""
    import transforms.data_tests as data_tests_module

    settings = b.land(tmp_path, _vms(2))
    settings = settings.model_copy(update={"build": settings.build.model_copy(update={"threads": 2})})
    original = data_tests_module._failure_of
    short = {"unique(intermediate.int_machine_plans: machine_key)",  # run as the models are built
             "unique(intermediate.int_machine_status: machine_key)"}  # run after them

    def failure_of(con, test):
        if test.name in short and con.execute("select current_setting('threads')").fetchone()[0] > 1:
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")
        return original(con, test)

    monkeypatch.setattr(data_tests_module, "_failure_of", failure_of)
    result = build_database(settings, DAY)
    assert result.memory_retries == tuple(f"data test {name}" for name in sorted(short))


def test_a_data_test_that_runs_out_of_memory_is_run_again_on_one_thread(caplog):
    """Data tests group million-row keys too: one that runs out of memory near the limit is run again on one
    thread, like a model, and still reports its failing rows; one that fails on one thread too stops the build
    with an error naming the test, never passes silently."""
    from transforms.data_tests import DataTest, failures_of
    from transforms.memory import OutOfMemoryOnOneThread

    test = DataTest("unique(t: k)", "select k, count(*) from t group by all having count(*) > 1",
                    screen="select hash(k) from t group by 1 having count(*) > 1")
    with duckdb.connect() as raw:
        raw.execute("set threads = 2")
        raw.execute("create table t as select * from (values (1), (1), (2)) as v(k)")
        con = _RunsOutOfMemory(raw, "from t", fits_on=1, statement="select")
        with caplog.at_level("WARNING", logger="transforms.memory"):
            [failure] = failures_of(con, [test])
        assert (failure.name, failure.failing_rows, failure.sample) == ("unique(t: k)", 1, [(1, 2)])
        assert con.failures == 1
        assert "data test unique(t: k) ran out of memory on 2 threads; running it again on one thread" in caplog.text
        assert raw.execute("select current_setting('threads')").fetchone() == (2,)

        con = _RunsOutOfMemory(raw, "from t", fits_on=0, statement="select")
        with pytest.raises(OutOfMemoryOnOneThread, match=r"data test unique\(t: k\) \(on one thread, after running"):
            failures_of(con, [test])
        assert raw.execute("select current_setting('threads')").fetchone() == (2,)


def test_a_model_served_from_the_lake_must_be_one_the_build_saves_there(tmp_path):
    """``-- materialized: lake`` builds a model in memory and, once saved to lake/derived, reads it from
    there: a model the build does not save would be left pointing at the in-memory catalog, so the build
    refuses it (and publishes nothing) instead of publishing a view that cannot be read."""
    root = tmp_path / "sqlproj"
    shutil.copytree(SqlProject().root, root)
    (root / "marts" / "machine_count.sql").write_text(
        "-- Grain: one row.\n-- materialized: lake\nselect count(*) as machines from marts.machines\n")
    settings = b.land(tmp_path, _vms(1))
    with pytest.raises(ValueError, match="marts.machine_count: materialized lake, but not saved to the lake"):
        build_database(settings, DAY, project=SqlProject(root))
    assert not settings.output.database_path.exists()
