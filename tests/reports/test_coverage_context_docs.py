"""Datasette style: every variable and attribute the templates use is a documented context field."""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from pathlib import Path

import pytest
from jinja2 import meta, nodes

from reports.context import CONTEXT_TYPES, CoverageContext
from reports.render import TEMPLATES_DIR, environment

#: The coverage report's templates; the licensing report's own (licensing*, _lic_*) are checked against
#: LicensingContext by test_licensing_context_docs.py.
TEMPLATES = sorted(p.name for p in Path(TEMPLATES_DIR).glob("*.j2")
                   if not p.name.startswith(("licensing", "_lic_")))
#: Variables a partial receives from the loop that includes it, not from the context.
LOOP_VARIABLES = {"_breakdown.html.j2": {"breakdown"}}


def _ast(name: str) -> nodes.Template:
    env = environment()
    source = env.loader.get_source(env, name)[0]
    return env.parse(source)


def documented_attributes(cls: type) -> set[str]:
    """Names listed in the ``Attributes:`` section of a class docstring (``name: meaning`` lines)."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    return set(re.findall(r"^ {4}(\w+): \S", section, flags=re.M))


def test_templates_exist() -> None:
    assert "coverage.html.j2" in TEMPLATES
    assert all(name == "coverage.html.j2" or name.startswith("_") for name in TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_variables_are_context_fields(name: str) -> None:
    allowed = {f.name for f in fields(CoverageContext)} | set(environment().globals)
    allowed |= LOOP_VARIABLES.get(name, set())
    undeclared = meta.find_undeclared_variables(_ast(name))
    assert undeclared <= allowed, f"{name} uses variables that are not CoverageContext fields: " \
                                  f"{sorted(undeclared - allowed)}"


def test_template_attributes_are_context_fields() -> None:
    known = {f.name for cls in CONTEXT_TYPES for f in fields(cls)}
    used = {node.attr for name in TEMPLATES for node in _ast(name).find_all(nodes.Getattr)
            if not (isinstance(node.node, nodes.Name) and node.node.name == "loop")}  # Jinja's loop.last
    assert used, "the templates read no attributes: the check would pass vacuously"
    assert used <= known, f"templates read attributes no context dataclass has: {sorted(used - known)}"


def test_every_context_field_is_used_by_a_template() -> None:
    used = set()
    for name in TEMPLATES:
        used |= meta.find_undeclared_variables(_ast(name))
    unused = {f.name for f in fields(CoverageContext)} - used
    assert not unused, f"CoverageContext fields no template uses: {sorted(unused)}"


@pytest.mark.parametrize("cls", CONTEXT_TYPES, ids=lambda cls: cls.__name__)
def test_context_dataclass_documents_every_field(cls: type) -> None:
    names = {f.name for f in fields(cls)}
    documented = documented_attributes(cls)
    assert names - documented == set(), f"{cls.__name__} fields without a docstring entry"
    assert documented - names == set(), f"{cls.__name__} documents fields it does not have"


def test_context_types_cover_every_nested_dataclass() -> None:
    import typing

    import reports.context as module

    reachable = set()
    for cls in CONTEXT_TYPES:
        for hint in typing.get_type_hints(cls, vars(module)).values():
            for candidate in (hint, *typing.get_args(hint)):
                if isinstance(candidate, type) and hasattr(candidate, "__dataclass_fields__"):
                    reachable.add(candidate)
    assert reachable <= set(CONTEXT_TYPES)
