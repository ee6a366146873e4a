"""What the mail summaries say, read from the analyst database: for the whole estate, or for the machines of
one owner (their keys put in the in-memory temporary table ``mail_scope``).

Views read: ``machine_edr_status``, ``coverage_summary``, ``coverage_changes``, ``recommendations``,
``license_cost_summary``, ``license_hours``, ``coverage_daily``, ``license_cost_daily``,
``machine_history``. Views a database lacks (an older build) are skipped: the summary says less.
"""

from __future__ import annotations

import csv
import io
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb

from reports.charts import MAX_NIGHTS, TrendPoint, cost_trend, coverage_trend
from reports.coverage import STATUS_ORDER
from reports.db import rows, scalar
from reports.pseudonym import MACHINE, Pseudonymizer

SCOPE_RELATION = "mail_scope"


def _rank_sql(column: str, order: tuple[str, ...]) -> str:
    cases = " ".join(f"when '{value}' then {i}" for i, value in enumerate(order))
    return f"(case {column} {cases} else {len(order)} end)"


#: Worst first.
SEVERITY_RANK = _rank_sql("severity", ("High", "Medium", "Low"))
STATUS_RANK = _rank_sql("edr_status", STATUS_ORDER)
NEEDS_ACTION = ("not_installed", "unhealthy", "unknown")
CHANGE_TYPES = ("newly_unprotected", "new_machine", "machine_gone", "newly_protected", "exemption_expiring")
MAX_CHANGE_EXAMPLES = 10
MAX_TOP_RECOMMENDATIONS = 8

#: Columns of recommendations.csv, in order (those the view lacks are left out).
CSV_COLUMNS = (
    "snapshot_date", "severity", "recommendation", "recommendation_id", "recommendation_source", "cloud",
    "scope_id", "machine_name", "owner", "os_family", "power_state", "edr_status", "status_reason",
    "plan_status", "remediation_action", "remediation_steps", "machine_key",
)


@dataclass(frozen=True)
class MachineRow:
    machine_name: str
    cloud: str
    scope_id: str
    os_family: str
    power_state: str
    edr_status: str
    status_reason: str
    plan_status: str


@dataclass(frozen=True)
class ChangeRow:
    change_type: str
    machine_name: str
    cloud: str
    scope_id: str
    previous_status: str | None
    current_status: str | None
    detail: str | None


@dataclass(frozen=True)
class RecommendationCount:
    severity: str
    recommendation: str
    machines: int


@dataclass(frozen=True)
class Costs:
    currency: str
    day: float
    day_low: float | None
    day_high: float | None
    month_to_date: float | None
    projected_month_end: float | None
    billed_machines: int | None


@dataclass
class Summary:
    """The figures of one message (whole estate, or one owner's machines)."""

    snapshot_date: date
    scoped: bool
    machines: int = 0
    running: int = 0
    running_by_status: dict[str, int] = field(default_factory=dict)
    all_by_status: dict[str, int] = field(default_factory=dict)
    coverage_pct: float | None = None
    protected: int = 0
    assessable: int = 0
    previous_night: date | None = None
    has_changes_view: bool = False
    changes: dict[str, int] = field(default_factory=dict)
    change_examples: list[ChangeRow] = field(default_factory=list)
    recommendation_rows: int = 0
    recommendation_machines: int = 0
    top_recommendations: list[RecommendationCount] = field(default_factory=list)
    recommendation_groups: int = 0
    costs: Costs | None = None
    needs_action: list[MachineRow] = field(default_factory=list)
    needs_action_total: int = 0
    coverage_trend: list[TrendPoint] = field(default_factory=list)
    cost_trend: list[TrendPoint] = field(default_factory=list)

    @property
    def stopped(self) -> int:
        return self.machines - self.running

    @property
    def without_edr(self) -> int:
        return self.running_by_status.get("not_installed", 0)


_VIEWS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, frozenset[str]] = weakref.WeakKeyDictionary()


def has_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the database has the view (or table); listed once per connection."""
    views = _VIEWS.get(con)
    if views is None:
        views = frozenset(r["table_name"] for r in rows(
            con, "select table_name from information_schema.tables where table_schema = current_schema()"))
        _VIEWS[con] = views
    return name in views


def view_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    return [r["column_name"] for r in rows(con, "select column_name from information_schema.columns "
                                                "where table_schema = current_schema() and table_name = ? "
                                                "order by ordinal_position", [name])]


def register_scope(con: duckdb.DuckDBPyConnection, machine_keys: Iterable[str]) -> None:
    """Make the temporary table ``mail_scope(machine_key)`` the set of machines the scoped queries read
    (a temporary table lives in memory: the read-only database file is not written)."""
    con.execute(f"create or replace temp table {SCOPE_RELATION} as "
                "select unnest(?::varchar[]) as machine_key", [sorted(machine_keys)])


def _in_scope(scoped: bool, column: str = "machine_key") -> str:
    return f" and {column} in (select machine_key from {SCOPE_RELATION})" if scoped else ""


def _int(value: Any) -> int:
    return int(value or 0)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def summarize(con: duckdb.DuckDBPyConnection, snapshot: date, *, scoped: bool = False,
              list_cap: int = 200) -> Summary:
    """The figures for the snapshot: for every machine, or (``scoped``) for those in ``mail_scope``."""
    s = Summary(snapshot_date=snapshot, scoped=scoped)
    where = _in_scope(scoped)
    for r in rows(con, "select coalesce(is_running, false) as running, edr_status, count(*) as n "
                       f"from machine_edr_status where snapshot_date = ?{where} group by all", [snapshot]):
        n = _int(r["n"])
        s.machines += n
        s.all_by_status[r["edr_status"]] = s.all_by_status.get(r["edr_status"], 0) + n
        if r["running"]:
            s.running += n
            s.running_by_status[r["edr_status"]] = s.running_by_status.get(r["edr_status"], 0) + n
    by = s.running_by_status
    s.protected = by.get("protected", 0)
    s.assessable = s.running - by.get("exempt", 0) - by.get("not_applicable", 0)
    s.coverage_pct = 100.0 * s.protected / s.assessable if s.assessable else None
    if not scoped and has_view(con, "coverage_summary"):  # the report's own figure, to the decimal
        pct = scalar(con, "select coverage_pct from coverage_summary where snapshot_date = ? "
                          "and dimension = 'overall' limit 1", [snapshot])
        s.coverage_pct = _float(pct) if pct is not None else s.coverage_pct

    _changes(con, s, where)
    _recommendations(con, s, where)
    _costs(con, s, scoped)
    if scoped:
        s.needs_action_total = sum(s.all_by_status.get(status, 0) for status in NEEDS_ACTION)
        s.needs_action = [MachineRow(**{k: (v if v is not None else "") for k, v in r.items()}) for r in rows(
            con, "select machine_name, cloud, scope_id, os_family, power_state, edr_status, status_reason, "
                 f"plan_status from machine_edr_status where snapshot_date = ?{where} "
                 f"and list_contains(?, edr_status) order by coalesce(is_running, false) desc, {STATUS_RANK}, "
                 "cloud, scope_id, machine_name, machine_key limit ?", [snapshot, list(NEEDS_ACTION), list_cap])]
        s.coverage_trend, s.cost_trend = scoped_trends(con, snapshot)
    else:
        s.coverage_trend, s.cost_trend = coverage_trend(con, snapshot), cost_trend(con, snapshot)
    return s


def _changes(con: duckdb.DuckDBPyConnection, s: Summary, where: str) -> None:
    if not has_view(con, "coverage_changes"):
        return
    s.has_changes_view = True
    s.previous_night = scalar(con, "select max(previous_night) from coverage_changes where snapshot_date = ?",
                              [s.snapshot_date])
    if s.previous_night is None and has_view(con, "machine_history"):
        s.previous_night = scalar(con, "select max(snapshot_date) from machine_history where snapshot_date < ?",
                                  [s.snapshot_date])
    for r in rows(con, f"select change_type, count(*) as n from coverage_changes where snapshot_date = ?{where} "
                       "group by change_type", [s.snapshot_date]):
        s.changes[r["change_type"]] = _int(r["n"])
    s.change_examples = [ChangeRow(**r) for r in rows(
        con, "select change_type, coalesce(machine_name, '(unnamed)') as machine_name, cloud, scope_id, "
             f"previous_status, current_status, detail from coverage_changes where snapshot_date = ?{where} "
             "and change_type in ('newly_unprotected', 'exemption_expiring') "
             "order by change_type desc, cloud, scope_id, machine_name, machine_key limit ?",
        [s.snapshot_date, MAX_CHANGE_EXAMPLES])]


def _recommendations(con: duckdb.DuckDBPyConnection, s: Summary, where: str) -> None:
    if not has_view(con, "recommendations"):
        return
    totals = rows(con, "select count(*) as n, count(distinct machine_key) as machines, "
                       "count(distinct (coalesce(recommendation, ''), coalesce(severity, ''))) as groups "
                       f"from recommendations where snapshot_date = ?{where}", [s.snapshot_date])[0]
    s.recommendation_rows, s.recommendation_machines = _int(totals["n"]), _int(totals["machines"])
    s.recommendation_groups = _int(totals["groups"])
    s.top_recommendations = [RecommendationCount(r["severity"] or "Unknown", r["recommendation"] or "",
                                                 _int(r["machines"])) for r in rows(
        con, "select severity, recommendation, count(distinct machine_key) as machines from recommendations "
             f"where snapshot_date = ?{where} group by severity, recommendation "
             f"order by {SEVERITY_RANK}, machines desc, recommendation limit ?",
        [s.snapshot_date, MAX_TOP_RECOMMENDATIONS])]


def _costs(con: duckdb.DuckDBPyConnection, s: Summary, scoped: bool) -> None:
    if not scoped and has_view(con, "license_cost_summary"):
        found = {r["period"]: r for r in rows(
            con, "select period, machines, cost, cost_low, cost_high, currency from license_cost_summary "
                 "where dimension = 'overall'")}
        day = found.get("day")
        if day is None:
            return
        s.costs = Costs(currency=day["currency"] or "", day=float(day["cost"] or 0), day_low=_float(day["cost_low"]),
                        day_high=_float(day["cost_high"]),
                        month_to_date=_float((found.get("month_to_date") or {}).get("cost")),
                        projected_month_end=_float((found.get("projected_month_end") or {}).get("cost")),
                        billed_machines=_int(day["machines"]))
    elif scoped and has_view(con, "license_hours"):
        first_of_month = s.snapshot_date.replace(day=1)
        r = rows(con, "select sum(cost) filter (where snapshot_date = ?) as day, "
                      "sum(cost_low) filter (where snapshot_date = ?) as day_low, "
                      "sum(cost_high) filter (where snapshot_date = ?) as day_high, "
                      "sum(cost) as mtd, any_value(currency) as currency, "
                      "count(distinct machine_key) filter (where snapshot_date = ? and billable_hours > 0) as billed "
                      f"from license_hours where snapshot_date between ? and ?{_in_scope(True)}",
                 [s.snapshot_date] * 4 + [first_of_month, s.snapshot_date])[0]
        if r["currency"] is None:
            return
        s.costs = Costs(currency=r["currency"], day=float(r["day"] or 0), day_low=_float(r["day_low"]),
                        day_high=_float(r["day_high"]), month_to_date=_float(r["mtd"]), projected_month_end=None,
                        billed_machines=_int(r["billed"]))


def scoped_trends(con: duckdb.DuckDBPyConnection, snapshot: date) -> tuple[list[TrendPoint], list[TrendPoint]]:
    """Coverage (``machine_history``) and cost (``license_hours``) per night for the machines in scope."""
    since = snapshot - timedelta(days=MAX_NIGHTS - 1)
    coverage: list[TrendPoint] = []
    if has_view(con, "machine_history"):
        for r in rows(con, "select snapshot_date, "
                           "count(*) filter (where power_state = 'running' and edr_status = 'protected') as p, "
                           "count(*) filter (where power_state = 'running' "
                           "and edr_status not in ('exempt', 'not_applicable')) as a "
                           f"from machine_history where snapshot_date between ? and ?{_in_scope(True)} "
                           "group by snapshot_date order by snapshot_date", [since, snapshot]):
            if r["a"]:
                coverage.append(TrendPoint(r["snapshot_date"], round(100.0 * r["p"] / r["a"], 2)))
    cost: list[TrendPoint] = []
    if has_view(con, "license_hours"):
        cost = [TrendPoint(r["snapshot_date"], float(r["c"] or 0), _float(r["lo"]), _float(r["hi"])) for r in rows(
            con, "select snapshot_date, sum(cost) as c, sum(cost_low) as lo, sum(cost_high) as hi "
                 f"from license_hours where snapshot_date between ? and ?{_in_scope(True)} "
                 "group by snapshot_date order by snapshot_date", [since, snapshot])]
    return coverage, cost


# ------------------------------------------------------------------------------------------- the CSV file


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # Spreadsheets run cells starting with these as formulas; machine names are untrusted text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def recommendations_csv(con: duckdb.DuckDBPyConnection, snapshot: date, *, scoped: bool = False,
                        pseudonymizer: Pseudonymizer | None = None) -> tuple[str, int]:
    """Every open recommendation of the snapshot (or of the machines in scope) as CSV text, and its rows.

    With a pseudonymizer, machine keys become ``machine-<hmac>`` and every other text cell has its host
    names, owners and IP addresses replaced.
    """
    present = set(view_columns(con, "recommendations")) if has_view(con, "recommendations") else set()
    columns = [c for c in CSV_COLUMNS if c in present]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    if not columns:
        return out.getvalue(), 0
    order = [c for c in ("cloud", "scope_id", "machine_name", "machine_key", "recommendation_id") if c in present]
    rank = f"{SEVERITY_RANK}, " if "severity" in present else ""
    result = con.execute(f"select {', '.join(columns)} from recommendations where snapshot_date = ?"
                         f"{_in_scope(scoped)} order by {rank}{', '.join(order)}", [snapshot])
    count = 0
    key_index = columns.index("machine_key") if "machine_key" in columns else -1
    while batch := result.fetchmany(5000):
        for row in batch:
            cells = list(row)
            if pseudonymizer is not None:
                cells = [pseudonymizer.pseudonym(MACHINE, v) if i == key_index and v is not None
                         else (pseudonymizer.text(v) if isinstance(v, str) else v) for i, v in enumerate(cells)]
            writer.writerow([_cell(v) for v in cells])
            count += 1
    return out.getvalue(), count
