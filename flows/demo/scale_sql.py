"""SQL building blocks of the scale generator: literals, weighted picks, hash draws and timestamp formats.

Everything here returns SQL text. Randomness is DuckDB's ``hash`` of ``(seed, machine index, purpose)``,
mapped to ``[0, 1)`` or to an index: vectorised, deterministic, independent of thread scheduling.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa

TWO_64 = "18446744073709551616.0"


def lit(value: Any) -> str:
    """A SQL literal for a Python value (strings quoted, ``None`` as NULL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{lit(k)}: {lit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def in_list(expr: str, values: Iterable[str]) -> str:
    values = list(values)
    return f"({expr} IN ({', '.join(lit(v) for v in values)}))" if values else "FALSE"


def pick(point: str, options: Sequence[tuple[Any, float]], *, raw: bool = False) -> str:
    """Map a uniform point of [0, 1) onto weighted options (a CASE with cumulative thresholds).

    ``raw``: the option values are SQL expressions already, not Python values to quote.
    """
    options = [(v, w) for v, w in options if w > 0]
    total = sum(w for _, w in options)
    if len(options) == 1:
        return options[0][0] if raw else lit(options[0][0])
    parts, cumulative = [], 0.0
    for value, weight in options[:-1]:
        cumulative += weight / total
        parts.append(f"WHEN {point} < {cumulative!r} THEN {value if raw else lit(value)}")
    last = options[-1][0]
    return f"(CASE {' '.join(parts)} ELSE {last if raw else lit(last)} END)"


def choose(point: str, values: Sequence[Any]) -> str:
    """An evenly weighted choice."""
    return pick(point, [(v, 1.0) for v in values])


def case(subject: str, branches: dict[Any, str], default: str = "NULL") -> str:
    """``CASE subject WHEN k THEN v ... END`` with quoted keys and raw SQL values."""
    if not branches:
        return default
    whens = " ".join(f"WHEN {lit(k)} THEN {v}" for k, v in branches.items())
    return f"(CASE {subject} {whens} ELSE {default} END)"


def duck_type(dtype: pa.DataType) -> str:
    """The DuckDB type that DuckDB exports to Arrow as ``dtype`` (the registered column types)."""
    if pa.types.is_string(dtype):
        return "VARCHAR"
    if pa.types.is_int32(dtype):
        return "INTEGER"
    if pa.types.is_int64(dtype):
        return "BIGINT"
    if pa.types.is_timestamp(dtype) and dtype.tz is not None:
        return "TIMESTAMPTZ"
    if pa.types.is_list(dtype):
        return f"{duck_type(dtype.value_type)}[]"
    if pa.types.is_struct(dtype):
        return "STRUCT(" + ", ".join(f'"{f.name}" {duck_type(f.type)}' for f in dtype) + ")"
    raise TypeError(f"no DuckDB type for {dtype}")


def macros(seed: int, run_at: datetime) -> list[str]:
    """Connection macros: seeded draws (``u``: uniform, ``hk``: index), time helpers and the clouds' formats.

    ``u(i, salt)``/``hk(i, salt, k)`` depend on the seed, the machine index and the purpose only: machine
    identities stay stable across nights. Date-dependent draws put the date in ``salt``.
    """
    run = lit(run_at)
    return [
        f"CREATE OR REPLACE TEMP MACRO u(i, salt) AS hash({seed}, i, salt) / {TWO_64}",
        f"CREATE OR REPLACE TEMP MACRO hk(i, salt, k) AS CAST(hash({seed}, i, salt) % k AS BIGINT)",
        f"CREATE OR REPLACE TEMP MACRO hj(i, j, salt, k) AS CAST(hash({seed}, i, j, salt) % k AS BIGINT)",
        f"CREATE OR REPLACE TEMP MACRO hexid(i, salt, digits) AS "
        f"right(format('{{:016x}}{{:016x}}', hash({seed}, i, salt), hash({seed}, i, salt || '+')), digits)",
        # a GUID shaped like uuid4 (lower case), from two draws
        f"CREATE OR REPLACE TEMP MACRO guid(i, salt) AS format('{{:08x}}-{{:04x}}-4{{:03x}}-a{{:03x}}-{{:012x}}', "
        f"hash({seed}, i, salt) >> 32, (hash({seed}, i, salt) >> 16) & 65535, hash({seed}, i, salt) & 4095, "
        f"hash({seed}, i, salt || '+') >> 52, hash({seed}, i, salt || '+') & 281474976710655)",
        f"CREATE OR REPLACE TEMP MACRO ago_days(d) AS {run} - to_microseconds(CAST(d * 86400000000 AS BIGINT))",
        f"CREATE OR REPLACE TEMP MACRO ago_hours(h) AS {run} - to_microseconds(CAST(h * 3600000000 AS BIGINT))",
        "CREATE OR REPLACE TEMP MACRO uniform(p, lo, hi) AS lo + p * (hi - lo)",
        # Azure: 7 fractional digits and Z; the first six are the microseconds.
        "CREATE OR REPLACE TEMP MACRO azure_ts(t) AS "
        "strftime(t, '%Y-%m-%dT%H:%M:%S.%f') || CAST(second(t) % 10 AS VARCHAR) || 'Z'",
        # boto3 datetimes as isoformat(): whole seconds (EC2) or milliseconds (SSM LastPingDateTime).
        "CREATE OR REPLACE TEMP MACRO aws_ts(t) AS strftime(t, '%Y-%m-%dT%H:%M:%S') || '+00:00'",
        "CREATE OR REPLACE TEMP MACRO aws_ts_ms(t) AS strftime(t, '%Y-%m-%dT%H:%M:%S.%g') || '+00:00'",
        "CREATE OR REPLACE TEMP MACRO ssm_ts(t) AS strftime(t, '%Y-%m-%dT%H:%M:%S') || 'Z'",
        "CREATE OR REPLACE TEMP MACRO iso_ts(t) AS strftime(t, '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'",
        "CREATE OR REPLACE TEMP MACRO gcp_ts(t) AS strftime(t, '%Y-%m-%dT%H:%M:%S.%f') || 'Z'",
        # Compute API: local offset -07:00 and milliseconds.
        "CREATE OR REPLACE TEMP MACRO gcp_local_ts(t) AS "
        "strftime(t - INTERVAL 7 HOUR, '%Y-%m-%dT%H:%M:%S.%g') || '-07:00'",
    ]


# ---------------------------------------------------------------------------------------------------------
# JSON templates: a record's shape as Python dicts and lists whose leaves are constants or SQL values,
# compiled to one flat ``concat(...)``: about three times cheaper than nested ``json_object`` calls, and
# constant parts (most of an API record) are serialised once, in Python.


@dataclass(frozen=True)
class Sql:
    """A SQL value inside a template. ``kind``: ``str`` (a JSON string: the value must be JSON-safe, i.e.
    built from the vocabulary, ids and digits; ``escape=True`` runs it through ``to_json``), ``raw`` (already
    JSON text: numbers, booleans, nested documents)."""

    expr: str
    kind: str = "str"
    nullable: bool = False
    escape: bool = False


@dataclass(frozen=True)
class Opt:
    """An object member or array element present only where ``cond`` holds."""

    cond: str
    value: Any


def S(expr: str, *, nullable: bool = False, escape: bool = False) -> Sql:  # noqa: N802 - template vocabulary
    return Sql(expr, "str", nullable, escape)


def R(expr: str, *, nullable: bool = False) -> Sql:  # noqa: N802
    return Sql(expr, "raw", nullable)


def N(expr: str) -> Sql:  # noqa: N802
    """A number."""
    return Sql(f"CAST({expr} AS VARCHAR)", "raw")


def json_sql(template: Any, *, python_style: bool = False) -> str:
    """Compile ``template`` to a SQL expression producing its JSON text.

    ``python_style``: ``json.dumps(value, sort_keys=True)`` (", " and ": " separators, sorted keys), the
    form of the extractors' ``*_json`` columns.
    """
    return _concat(_Compiler(python_style).render(template))


@dataclass
class _Compiler:
    python_style: bool

    @property
    def comma(self) -> str:
        return ", " if self.python_style else ","

    @property
    def colon(self) -> str:
        return ": " if self.python_style else ":"

    def dumps(self, value: Any) -> str:
        if self.python_style:
            return json.dumps(value, sort_keys=True)
        return json.dumps(value, separators=(",", ":"))

    def render(self, node: Any) -> list[tuple[bool, str]]:
        if isinstance(node, Sql):
            return self._sql(node)
        if isinstance(node, dict) and self.python_style:
            return self._sorted_object(node)
        if isinstance(node, dict):
            items = list(node.items())
            members = [(k, v) for k, v in items if not isinstance(v, Opt)]
            optional = [(k, v) for k, v in items if isinstance(v, Opt)]
            return self._sequence("{", "}", [[(True, self.dumps(k) + self.colon), *self.render(v)] for k, v in members],
                                  [(v.cond, [(True, self.dumps(k) + self.colon), *self.render(v.value)])
                                   for k, v in optional])
        if isinstance(node, list | tuple):
            members = [self.render(v) for v in node if not isinstance(v, Opt)]
            optional = [(v.cond, self.render(v.value)) for v in node if isinstance(v, Opt)]
            return self._sequence("[", "]", members, optional)
        return [(True, self.dumps(node))]

    def _sorted_object(self, node: dict) -> list[tuple[bool, str]]:
        """Keys in sorted order whether present or not: absent members are NULLs that ``concat_ws`` skips."""
        members = []
        for key, value in sorted(node.items()):
            inner = value.value if isinstance(value, Opt) else value
            member = _concat([(True, self.dumps(key) + self.colon), *self.render(inner)])
            members.append(f"(CASE WHEN {value.cond} THEN {member} END)" if isinstance(value, Opt) else member)
        return [(True, "{"), (False, f"concat_ws({lit(self.comma)}, {', '.join(members)})"), (True, "}")]

    def _sql(self, node: Sql) -> list[tuple[bool, str]]:
        if node.kind == "raw":
            return [(False, f"coalesce({node.expr}, 'null')" if node.nullable else node.expr)]
        if node.escape:
            return [(False, f"coalesce(to_json({node.expr}), 'null')" if node.nullable else f"to_json({node.expr})")]
        if node.nullable:
            return [(False, f"coalesce('\"' || ({node.expr}) || '\"', 'null')")]
        return [(True, '"'), (False, node.expr), (True, '"')]

    def _sequence(self, opening: str, closing: str, members: list[list[tuple[bool, str]]],
                  optional: list[tuple[str, list[tuple[bool, str]]]]) -> list[tuple[bool, str]]:
        """Mandatory members first; each optional one is ``CASE WHEN cond THEN ',' || member ELSE '' END``."""
        out: list[tuple[bool, str]] = [(True, opening)]
        for pos, member in enumerate(members):
            if pos:
                out.append((True, self.comma))
            out += member
        conditional = [f"(CASE WHEN {cond} THEN {self._concat([(True, self.comma), *member])} ELSE '' END)"
                       for cond, member in optional]
        if conditional and not members:  # no mandatory member to follow: drop the first optional's comma
            out.append((False, f"ltrim(concat({', '.join(conditional)}), {lit(self.comma)})"))
        else:
            out += [(False, c) for c in conditional]
        out.append((True, closing))
        return out

    @staticmethod
    def _concat(pieces: list[tuple[bool, str]]) -> str:
        return _concat(pieces)


def _concat(pieces: list[tuple[bool, str]]) -> str:
    """``concat`` of text pieces and SQL pieces, adjacent texts merged into one literal."""
    merged: list[tuple[bool, str]] = []
    for is_text, piece in pieces:
        if is_text and merged and merged[-1][0]:
            merged[-1] = (True, merged[-1][1] + piece)
        else:
            merged.append((is_text, piece))
    parts = [lit(p) if is_text else p for is_text, p in merged]
    return parts[0] if len(parts) == 1 else "concat(" + ", ".join(parts) + ")"


def assert_json_safe(values: Iterable[Any]) -> None:
    """Vocabulary strings are put in JSON without escaping: refuse any that would need it."""
    for value in values:
        if isinstance(value, str) and json.dumps(value) != f'"{value}"':
            raise ValueError(f"vocabulary value needs JSON escaping: {value!r}")
