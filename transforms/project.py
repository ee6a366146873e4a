"""The SQL project on disk: models, seeds, data tests and the documented contract (``sql/schema.yml``).

Models are plain ``SELECT`` statements in ``sql/<layer>/<name>.sql``; a model refers to another as
``<layer>.<name>`` (``staging.stg_aws__ec2_instances``), which is also how dependencies are found, so the
build order needs no hand-kept list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import yaml

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
LAYERS = ("staging", "intermediate", "marts")
REFERENCE = re.compile(r"\b(staging|intermediate|marts)\.(\w+)\b")


@dataclass(frozen=True)
class Model:
    """One SQL model: ``layer.name``, its SQL text and the models it reads."""

    layer: str
    name: str
    path: Path
    sql: str
    depends_on: frozenset[str] = field(default_factory=frozenset)

    @property
    def qualified(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def materialization(self) -> str:
        """Staging models are views over Parquet (nothing copied); the rest are tables built once, unless
        the header says ``-- materialized: view`` (large pass-through models read once downstream),
        ``-- materialized: working`` (a table only the build reads: held in memory, never written to the
        database file, gone once the database is published; see ``transforms.working``) or
        ``-- materialized: working view`` (a query over working tables that only the build reads: neither
        written nor held, computed by each reader, gone with the tables it reads) or ``-- materialized:
        lake`` (a state the build saves to the lake anyway, ``transforms.history``: built in memory like a
        working table, and once saved, a view over the saved partition instead of a second copy in the file)."""
        head = self.sql.split("\nselect", 1)[0]
        if self.layer == "staging" or "-- materialized: view" in head:
            return "view"
        if "-- materialized: working view" in head:
            return "working view"
        if "-- materialized: lake" in head:
            return "lake"
        if "-- materialized: working" in head:
            return "working"
        return "table"

    @property
    def is_working(self) -> bool:
        """Only the build reads it (a working table or working view): gone once the database is published."""
        return self.materialization in ("working", "working view")

    @property
    def header(self) -> str:
        """The leading comment block: the model's purpose and grain."""
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line.removeprefix("--").strip())
        return " ".join(lines)


class ProjectError(ValueError):
    """The SQL project is inconsistent (unknown reference, cycle, missing header)."""


@dataclass
class SqlProject:
    root: Path = SQL_DIR

    @cached_property
    def models(self) -> dict[str, Model]:
        found: dict[str, Model] = {}
        for layer in LAYERS:
            for path in sorted((self.root / layer).glob("*.sql")):
                sql = path.read_text(encoding="utf-8")
                refs = {f"{a}.{b}" for a, b in REFERENCE.findall(_strip_comments(sql))}
                model = Model(layer, path.stem, path, sql, frozenset(refs - {f"{layer}.{path.stem}"}))
                found[model.qualified] = model
        return found

    def build_order(self) -> list[Model]:
        """Models in dependency order; a reference to a missing model or a cycle is an error."""
        graph = {}
        for name, model in self.models.items():
            missing = sorted(model.depends_on - self.models.keys())
            if missing:
                raise ProjectError(f"{model.path.name} refers to unknown model(s): {', '.join(missing)}")
            graph[name] = model.depends_on
        self._check_working_models()
        try:
            order = list(TopologicalSorter(graph).static_order())
        except CycleError as exc:
            raise ProjectError(f"model dependency cycle: {' -> '.join(exc.args[1])}") from None
        return [self.models[name] for name in self._working_just_in_time(order)]

    def _working_just_in_time(self, order: list[str]) -> list[str]:
        """``order`` with each working model moved to just before the first model that needs it.

        Working tables live in memory until their last reader is built; built as soon as their inputs
        were ready, three million-row ones waited in memory through the evidence join at a million
        machines and pushed it to spill. Built when first needed, fewer of them are held at once. Still a
        dependency order: a model is placed only after everything it reads."""
        position = {name: i for i, name in enumerate(order)}
        placed: list[str] = []
        done: set[str] = set()

        def place(name: str) -> None:
            if name in done:
                return
            for dependency in sorted(self.models[name].depends_on, key=position.__getitem__):
                place(dependency)
            done.add(name)
            placed.append(name)

        for name in order:
            if not self.models[name].is_working:
                place(name)
        for name in order:  # working models that nothing reads
            place(name)
        return placed

    def _check_working_models(self) -> None:
        """A working table is gone after the build, so nothing that outlives the build may read it: no
        view (its query runs when an analyst reads it; a working view, which goes with it, may) and no
        public view."""
        working = {name for name, model in self.models.items() if model.is_working}
        for model in self.models.values():
            read = sorted(model.depends_on & working)
            if read and model.materialization == "view":
                raise ProjectError(f"{model.path.name} is a view but reads working table(s) {', '.join(read)}, "
                                   "which are not kept in the database: make it a table or a working view, "
                                   "or them tables")
        public = sorted(working & {name for name, spec in self.schema.items() if spec.get("public")})
        if public:
            raise ProjectError(f"working table(s) {', '.join(public)} cannot be public views")

    @cached_property
    def schema(self) -> dict[str, Any]:
        """The documented contract: descriptions, public views, keys and column tests."""
        return yaml.safe_load((self.root / "schema.yml").read_text(encoding="utf-8"))["models"]

    def seed_files(self) -> list[Path]:
        return sorted((self.root / "seeds").glob("*.csv"))

    def singular_tests(self) -> list[Path]:
        return sorted((self.root / "tests").glob("*.sql"))


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
