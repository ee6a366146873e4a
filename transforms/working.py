"""Working tables: models only the build reads, held in an in-memory catalog instead of the database file.

Writing a table into the database file costs three to four times building it in memory (copying the 1M-row
machine_edr_status: 1.9-2.4 s into the file, 0.6 s into memory), and CREATE TABLE AS was about 38% of the
models' CPU in a profiled million-machine build. The per-cloud machine shapes, identifiers, inventory
freshness, plans, exemptions and the licensing month states are read only by later models, their own data
tests and (the month states) the export of tonight's states to the lake, so they are never written: a model
whose header says ``-- materialized: working`` is created in the catalog ``build_work`` with a view under its
usual name pointing there, so the SQL that reads ``layer.name`` need not know.

The buffer manager's memory limit covers the catalog. A working table is dropped as soon as every model that
reads it is built and its data tests have run (its memory would otherwise be spilled to disk and read back
for nothing), and before the database is published no view refers to the catalog any more.

A model whose header says ``-- materialized: working view`` is a view, not a table: a cheap query over
working tables (the machine identifiers, a union of projections of the machine list) that its readers
compute as they scan it, instead of a million-row copy held in memory beside what it projects. The working
tables it reads are kept until it is itself dropped, which is after its own readers are built and its tests
have run.
"""

from __future__ import annotations

import time

import duckdb

from transforms.data_tests import TestFailure, failures_of, generic_tests, model_tests
from transforms.project import Model, SqlProject

WORK_CATALOG = "build_work"


def attach_work_catalog(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"attach ':memory:' as {WORK_CATALOG}")


def table_name(con: duckdb.DuckDBPyConnection, model: Model) -> str:
    """Where ``model``'s table is created: the model's own name, or for a working table (and a model served
    from the lake once saved there, ``transforms.history.serve_from_lake``) the catalog's (whose schema for
    the model's layer this creates if need be). A working view stays under its own name
    in the database, where the names it reads resolve, and is dropped before publishing."""
    if model.materialization not in ("working", "lake"):
        return model.qualified
    con.execute(f"create schema if not exists {WORK_CATALOG}.{model.layer}")
    return f"{WORK_CATALOG}.{model.qualified}"


class WorkingTables:
    """Drops each working table once nothing still to come reads it, testing it first.

    A working table is kept to the end when a singular data test (``sql/tests``) or another model's
    relationship test reads it (those run after every model), or when it is in ``keep`` (the states the
    build saves to the lake after the data tests)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, project: SqlProject, keep: frozenset[str] = frozenset()):
        self.con, self.project = con, project
        self.built: set[str] = set()
        self.released: set[str] = set()
        self.failures: list[TestFailure] = []
        self.retried: list[str] = []  # data tests run again on one thread (transforms.memory)
        self.test_seconds = 0.0  # spent testing and dropping released tables, while models were built
        singular = " ".join(path.read_text(encoding="utf-8") for path in project.singular_tests())
        targets = {parent for test in generic_tests(project) for parent in test.reads}
        self.pending = {name: {reader for reader, other in project.models.items() if name in other.depends_on}
                        for name, model in project.models.items()
                        if model.is_working and name not in targets | keep
                        and name not in singular}

    def _done_with(self, reader: str) -> bool:
        """Whether ``reader`` reads nothing any more: built, and for a working view also dropped (what a
        view reads is read again by each of its readers)."""
        if self.project.models[reader].materialization == "working view":
            return reader in self.released
        return reader in self.built

    def built_model(self, model: Model) -> None:
        """Note that ``model`` is built; release the working tables and views it was the last reader of
        (and, once a working view is released, the tables that view was the last reader of)."""
        self.built.add(model.qualified)
        releasing = True
        while releasing:
            releasing = False
            for name, readers in self.pending.items():
                if (name in self.built and name not in self.released
                        and all(self._done_with(reader) for reader in readers)):
                    self._release(self.project.models[name])
                    releasing = releasing or name in self.released

    def _release(self, model: Model) -> None:
        tests = model_tests(self.project, model.qualified)
        references = {target for test in tests for target in test.reads}
        if not references <= self.built:
            return  # a relationship to a model not built yet: test and drop at the end
        started = time.perf_counter()
        self.failures.extend(failures_of(self.con, tests, self.retried))
        self.con.execute(f"drop view {model.qualified}")
        if model.materialization == "working":
            self.con.execute(f"drop table {WORK_CATALOG}.{model.qualified}")
        self.released.add(model.qualified)
        self.test_seconds += time.perf_counter() - started

    def finish(self) -> None:
        """Before publishing: drop the remaining views onto the catalog, then the catalog."""
        for name, model in self.project.models.items():
            if model.is_working and name not in self.released:
                self.con.execute(f"drop view if exists {name}")
        self.con.execute(f"detach {WORK_CATALOG}")
