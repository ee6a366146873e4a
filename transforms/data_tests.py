"""Data tests that fail the build loudly: keys unique and not null, accepted values, relationships,
plus singular tests (``sql/tests/*.sql``: queries that return the offending rows, SQLMesh-audit style).

The generic tests are declared beside each model's documentation in ``sql/schema.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from transforms.project import SqlProject


@dataclass(frozen=True)
class DataTest:
    name: str
    sql: str  # returns the failing rows
    # A row check (not_null, accepted_values) also says which rows it reads and what makes one fail, so that
    # every row check of a model is counted in one scan of it (``run_data_tests``) instead of one scan each.
    rows: str | None = None
    fails_when: str | None = None


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
    tests: list[DataTest] = []
    for qualified, spec in project.schema.items():
        rows = qualified
        if spec.get("tested_night"):
            rows = (f"(select * from {qualified} "
                    f"where {spec['tested_night']} = getvariable('snapshot_date')) as tonight")
        key = spec.get("unique")
        if key:
            cols = ", ".join(key)
            tests.append(DataTest(f"unique({qualified}: {cols})",
                                  f"select {cols}, count(*) from {rows} group by all having count(*) > 1"))
        for column, col_spec in (spec.get("columns") or {}).items():
            tests.extend(_column_tests(rows, column, col_spec or {}, qualified))
    return tests


def _column_tests(rows: str, column: str, spec: dict[str, Any], model: str | None = None) -> list[DataTest]:
    """Tests of one column of ``rows`` (the model, or a subquery over it named ``tonight``)."""
    model = model or rows
    tests = []
    if spec.get("not_null"):
        tests.append(DataTest(f"not_null({model}.{column})", f"select * from {rows} where {column} is null",
                              rows, f"{column} is null"))
    if spec.get("accepted_values"):
        values = _quote_list(spec["accepted_values"])
        tests.append(DataTest(f"accepted_values({model}.{column})",
                              f"select {column}, count(*) from {rows} where {column} not in ({values}) group by 1",
                              rows, f"{column} not in ({values})"))
    if spec.get("relationship"):
        target_model, target_col = spec["relationship"].rsplit(".", 1)
        child = rows if rows != model else f"{model} as child"
        alias = "tonight" if rows != model else "child"
        tests.append(DataTest(
            f"relationship({model}.{column} -> {spec['relationship']})",
            f"select {alias}.{column} from {child} anti join {target_model} as parent "
            f"on parent.{target_col} = {alias}.{column} where {alias}.{column} is not null"))
    return tests


def singular_tests(project: SqlProject) -> list[DataTest]:
    return [DataTest(path.stem, path.read_text(encoding="utf-8")) for path in project.singular_tests()]


def run_data_tests(con: duckdb.DuckDBPyConnection, project: SqlProject) -> int:
    """Run every test; raise ``DataTestError`` listing all failures. Returns the number of tests run.

    The row checks of one model are counted together, in one scan (at a million machines, a dozen scans of
    the same million-row table were a second or more of the build); only a check that fails runs its own
    query, for the sample rows."""
    tests = generic_tests(project) + singular_tests(project)
    suspects = _failing_row_checks(con, [t for t in tests if t.fails_when])
    failures = []
    for test in tests:
        if test.fails_when and test.name not in suspects:
            continue
        rows = con.execute(f"select * from ({test.sql}) limit 5").fetchall()
        if rows:
            count = con.execute(f"select count(*) from ({test.sql})").fetchone()[0]
            failures.append(TestFailure(test.name, count, rows))
    if failures:
        raise DataTestError(failures)
    return len(tests)


def _failing_row_checks(con: duckdb.DuckDBPyConnection, checks: list[DataTest]) -> set[str]:
    """Names of the row checks that some row fails: one ``count(*) filter (...)`` per check, one query per
    model (or night of a model)."""
    by_rows: dict[str, list[DataTest]] = {}
    for check in checks:
        by_rows.setdefault(check.rows or "", []).append(check)
    failing: set[str] = set()
    for rows, group in by_rows.items():
        counts = con.execute("select " + ", ".join(f"count(*) filter (where {c.fails_when})" for c in group)
                             + f" from {rows}").fetchone()
        failing |= {check.name for check, count in zip(group, counts, strict=True) if count}
    return failing
