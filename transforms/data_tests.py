"""Data tests that fail the build loudly: keys unique and not null, accepted values, relationships,
plus singular tests (``sql/tests/*.sql``: queries that return the offending rows, SQLMesh-audit style).

The generic tests are declared beside each model's documentation in ``sql/schema.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from transforms.memory import on_one_thread_if_out_of_memory
from transforms.project import SqlProject


@dataclass(frozen=True)
class DataTest:
    name: str
    sql: str  # returns the failing rows
    # A cheaper query that returns no row when the test surely passes (a uniqueness test groups 64-bit hashes
    # of the key instead of the key: ~100-character machine keys made those tests most of the tests' time).
    # Only when it returns rows does the exact ``sql`` run, so a hash collision costs time, never a verdict.
    screen: str | None = None
    model: str | None = None  # the model a generic test checks (None for a singular test)
    reads: tuple[str, ...] = ()  # other models it reads (a relationship's parent)


@dataclass(frozen=True)
class TestFailure:
    name: str
    failing_rows: int
    sample: list[tuple[Any, ...]]

    def __str__(self) -> str:
        return f"{self.name}: {self.failing_rows} failing row(s), e.g. {self.sample[:3]}"


class DataTestError(RuntimeError):
    """One or more data tests failed: the new database is not published."""

    def __init__(self, failures: list[TestFailure]):
        self.failures = failures
        super().__init__("data tests failed:\n  " + "\n  ".join(str(f) for f in failures))


def _quote_list(values: list[Any]) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def generic_tests(project: SqlProject) -> list[DataTest]:
    """Tests declared in schema.yml: ``unique`` (one or several columns), ``not_null``,
    ``accepted_values`` and ``relationships`` (``to: layer.model.column``).

    A model marked ``tested_night: snapshot_date`` holds earlier nights read back from the lake, which were
    tested when their night was built: only the night being built is tested again, so the tests' cost does
    not grow with the retained history.
    """
    return [test for qualified in project.schema for test in model_tests(project, qualified)]


def model_tests(project: SqlProject, qualified: str) -> list[DataTest]:
    """The generic tests of one model."""
    spec = project.schema.get(qualified) or {}
    tests: list[DataTest] = []
    rows = qualified
    if spec.get("tested_night"):
        rows = (f"(select * from {qualified} "
                f"where {spec['tested_night']} = getvariable('snapshot_date')) as tonight")
    key = spec.get("unique")
    if key:
        cols = ", ".join(key)
        tests.append(DataTest(f"unique({qualified}: {cols})",
                              f"select {cols}, count(*) from {rows} group by all having count(*) > 1",
                              screen=f"select hash({cols}) from {rows} group by 1 having count(*) > 1",
                              model=qualified))
    for column, col_spec in (spec.get("columns") or {}).items():
        tests.extend(_column_tests(rows, column, col_spec or {}, qualified))
    return tests


def _column_tests(rows: str, column: str, spec: dict[str, Any], model: str | None = None) -> list[DataTest]:
    """Tests of one column of ``rows`` (the model, or a subquery over it named ``tonight``)."""
    model = model or rows
    tests = []
    if spec.get("not_null"):
        tests.append(DataTest(f"not_null({model}.{column})", f"select * from {rows} where {column} is null",
                              model=model))
    if spec.get("accepted_values"):
        values = _quote_list(spec["accepted_values"])
        tests.append(DataTest(f"accepted_values({model}.{column})",
                              f"select {column}, count(*) from {rows} where {column} not in ({values}) group by 1",
                              model=model))
    if spec.get("relationship"):
        target_model, target_col = spec["relationship"].rsplit(".", 1)
        child = rows if rows != model else f"{model} as child"
        alias = "tonight" if rows != model else "child"
        tests.append(DataTest(
            f"relationship({model}.{column} -> {spec['relationship']})",
            f"select {alias}.{column} from {child} anti join {target_model} as parent "
            f"on parent.{target_col} = {alias}.{column} where {alias}.{column} is not null",
            model=model, reads=(target_model,)))
    return tests


def singular_tests(project: SqlProject) -> list[DataTest]:
    return [DataTest(path.stem, path.read_text(encoding="utf-8")) for path in project.singular_tests()]


def failures_of(con: duckdb.DuckDBPyConnection, tests: list[DataTest],
                retried: list[str] | None = None) -> list[TestFailure]:
    """Run ``tests``; the failures, each with its count and a sample. A test that runs out of memory is run
    again on one thread, like a model (``transforms.memory``), and named in ``retried`` (as "data test
    <name>"); one that fails on one thread too raises."""
    failures = []
    for test in tests:
        what = f"data test {test.name}"
        failure, again = on_one_thread_if_out_of_memory(con, lambda test=test: _failure_of(con, test), what)
        if again and retried is not None:
            retried.append(what)
        if failure:
            failures.append(failure)
    return failures


def _failure_of(con: duckdb.DuckDBPyConnection, test: DataTest) -> TestFailure | None:
    """The test's failure, if any. A test with a ``screen`` runs it first, and its exact query only if the
    screen finds something."""
    if test.screen and not con.execute(f"select * from ({test.screen}) limit 1").fetchall():
        return None  # surely passes
    rows = con.execute(f"select * from ({test.sql}) limit 5").fetchall()
    if not rows:
        return None
    count = con.execute(f"select count(*) from ({test.sql})").fetchone()[0]
    return TestFailure(test.name, count, rows)


def run_data_tests(con: duckdb.DuckDBPyConnection, project: SqlProject, *, tested: frozenset[str] = frozenset(),
                   earlier_failures: tuple[TestFailure, ...] = (), retried: list[str] | None = None) -> int:
    """Run every test, except the generic tests of the models in ``tested`` (run during the build, with
    ``earlier_failures`` as their outcome); raise ``DataTestError`` listing all failures. Returns the
    number of tests run in all; those run again on one thread are added to ``retried``."""
    tests = generic_tests(project) + singular_tests(project)
    failures = [*earlier_failures, *failures_of(con, [t for t in tests if t.model not in tested], retried)]
    if failures:
        raise DataTestError(failures)
    return len(tests)
