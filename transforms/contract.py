"""The analyst contract: public views in the ``main`` schema over the marts, documented with COMMENT ON.

Descriptions come from ``sql/schema.yml`` only (the README's view list is generated from the same file),
and the build fails if a public view has an undocumented column or documents a column it lacks, so the
documentation cannot drift from the data.
"""

from __future__ import annotations

import duckdb

from transforms.project import SqlProject


class ContractError(RuntimeError):
    """A public view and its documentation disagree."""


def _literal(text: str) -> str:
    return "'" + " ".join(str(text).split()).replace("'", "''") + "'"


def public_views(project: SqlProject) -> dict[str, dict]:
    """``{view_name: spec}`` for every model marked ``public: true``, keyed by its public name."""
    return {qualified.split(".", 1)[1]: {**spec, "model": qualified}
            for qualified, spec in project.schema.items() if spec.get("public")}


def publish_views(con: duckdb.DuckDBPyConnection, project: SqlProject) -> list[str]:
    """Create and document ``main.<view>`` for each public model; returns the view names."""
    for name, spec in public_views(project).items():
        con.execute(f"create or replace view main.{name} as select * from {spec['model']}")
        con.execute(f"comment on view main.{name} is {_literal(spec['description'])}")
        actual = [row[0] for row in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'main' and table_name = ? "
            "order by column_index", [name]).fetchall()]
        documented = spec.get("columns") or {}
        undocumented = [c for c in actual if c not in documented]
        absent = [c for c in documented if c not in actual]
        if undocumented or absent:
            raise ContractError(f"view {name}: undocumented columns {undocumented}, documented but absent {absent}")
        for column in actual:
            con.execute(f"comment on column main.{name}.{column} is "
                        f"{_literal(documented[column]['description'])}")
    return list(public_views(project))
