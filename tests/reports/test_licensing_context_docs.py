"""Datasette style: every variable and attribute the licensing templates use is a documented context field,
and the fixture database has exactly the columns ``sql/schema.yml`` documents."""

from __future__ import annotations

import inspect
import re
import typing
from dataclasses import fields
from pathlib import Path

import duckdb
import pytest
from jinja2 import meta, nodes
from licensing_fixture_db import build_licensing_db

import reports.licensing_context as module
from reports.licensing import LICENSING_VIEW_COLUMNS
from reports.licensing_context import LICENSING_CONTEXT_TYPES, LicensingContext
from reports.render import TEMPLATES_DIR, environment
from transforms.contract import public_views
from transforms.project import SqlProject

TEMPLATES = sorted(p.name for p in Path(TEMPLATES_DIR).glob("*.j2")
                   if p.name.startswith(("licensing", "_lic_")))
#: Variables a partial receives from the loop that includes it, not from the context.
LOOP_VARIABLES = {"_lic_breakdown.html.j2": {"breakdown"}}


def _ast(name: str) -> nodes.Template:
    env = environment()
    return env.parse(env.loader.get_source(env, name)[0])


def documented_attributes(cls: type) -> set[str]:
    """Names listed in the ``Attributes:`` section of a class docstring (``name: meaning`` lines)."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    return set(re.findall(r"^ {4}(\w+): \S", section, flags=re.M))


def test_templates_exist() -> None:
    assert "licensing.html.j2" in TEMPLATES
    assert {"_lic_headline.html.j2", "_lic_trend.html.j2", "_lic_method.html.j2"} <= set(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_variables_are_context_fields(name: str) -> None:
    allowed = {f.name for f in fields(LicensingContext)} | set(environment().globals)
    allowed |= LOOP_VARIABLES.get(name, set())
    undeclared = meta.find_undeclared_variables(_ast(name))
    assert undeclared <= allowed, f"{name} uses variables that are not LicensingContext fields: " \
                                  f"{sorted(undeclared - allowed)}"


def test_template_attributes_are_context_fields() -> None:
    known = {f.name for cls in LICENSING_CONTEXT_TYPES for f in fields(cls)}
    used = {node.attr for name in TEMPLATES for node in _ast(name).find_all(nodes.Getattr)
            if not (isinstance(node.node, nodes.Name) and node.node.name == "loop")}
    assert used, "the templates read no attributes: the check would pass vacuously"
    assert used <= known, f"templates read attributes no context dataclass has: {sorted(used - known)}"


def test_every_context_field_is_used_by_a_template() -> None:
    used = set()
    for name in TEMPLATES:
        used |= meta.find_undeclared_variables(_ast(name))
    unused = {f.name for f in fields(LicensingContext)} - used
    assert not unused, f"LicensingContext fields no template uses: {sorted(unused)}"


@pytest.mark.parametrize("cls", LICENSING_CONTEXT_TYPES, ids=lambda cls: cls.__name__)
def test_context_dataclass_documents_every_field(cls: type) -> None:
    names = {f.name for f in fields(cls)}
    documented = documented_attributes(cls)
    assert names - documented == set(), f"{cls.__name__} fields without a docstring entry"
    assert documented - names == set(), f"{cls.__name__} documents fields it does not have"


def test_context_types_cover_every_nested_dataclass() -> None:
    reachable = set()
    for cls in LICENSING_CONTEXT_TYPES:
        for hint in typing.get_type_hints(cls, vars(module)).values():
            for candidate in (hint, *typing.get_args(hint), *[a for h in typing.get_args(hint)
                                                              for a in typing.get_args(h)]):
                if isinstance(candidate, type) and hasattr(candidate, "__dataclass_fields__"):
                    reachable.add(candidate)
    assert reachable <= set(LICENSING_CONTEXT_TYPES)


def test_fixture_views_have_exactly_the_documented_columns(tmp_path: Path) -> None:
    documented = {name: list(spec.get("columns") or {}) for name, spec in public_views(SqlProject()).items()}
    db = build_licensing_db(tmp_path / "contract.duckdb")
    with duckdb.connect(str(db), read_only=True) as con:
        for view in LICENSING_VIEW_COLUMNS:
            actual = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_name = ? "
                "order by ordinal_position", [view]).fetchall()]
            if view == "build_info":
                assert "snapshot_date" in actual
                continue
            assert sorted(actual) == sorted(documented[view]), view
            assert set(LICENSING_VIEW_COLUMNS[view]) <= set(documented[view]), view
