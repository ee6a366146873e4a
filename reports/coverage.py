"""The nightly EDR coverage report: an email-safe HTML page read from the analyst DuckDB database.

Public API::

    build_coverage_context(con, *, list_cap=200) -> CoverageContext
    render_coverage(context) -> str                      # HTML with every CSS rule inlined
    write_coverage_report(db_path, out_dir, *, list_cap=200, lake=None) -> Path   # out_dir/coverage.html

It reads the views ``machine_edr_status``, ``recommendations``, ``coverage_summary`` and ``extract_runs``
of the latest snapshot, and for the history sections ``coverage_changes`` (what changed since the previous
night, shown first), ``coverage_daily`` (the coverage trend over the retained nights) and
``time_to_protect`` (how long new machines stay without EDR). Every list is capped (``list_cap`` rows,
fewer for the warning banner, the recommendation groups, the changes and the trend) so the page stays well
under 2 MB whatever the size of the estate; each cap prints how many rows it left out and which view holds
them all.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from reports.context import (
    Breakdown,
    BreakdownRow,
    ChangeGroup,
    ChangeMachine,
    ChangesSection,
    CloudCoverage,
    CountRow,
    CoverageContext,
    CoverageNight,
    CoverageTrend,
    DataQuality,
    ExtractIssue,
    Headline,
    RecommendationGroup,
    RecommendationMachine,
    Remediation,
    StoppedMachine,
    StoppedSection,
    TimeToProtect,
    UnprotectedNewMachine,
    VerdictCounts,
)
from reports.db import COVERAGE_VIEW_COLUMNS, check_views, rows, scalar
from reports.files import render_within, write_atomic
from reports.render import (
    CLOUD_LABELS,
    OS_LABELS,
    PLAN_LABELS,
    POWER_LABELS,
    STATUS_LABELS,
    coverage_level,
    render_report,
    scope_kind,
    severity_level,
    status_level,
)

TEMPLATE = "coverage.html.j2"
REPORT_FILENAME = "coverage.html"

#: The written page is kept under this size; ``write_coverage_report`` lowers the caps if ever needed.
MAX_HTML_BYTES = 2_000_000
#: Failed, skipped or rejecting extracts listed in the warning banner, each kind.
MAX_BANNER_ITEMS = 25
#: Recommendation groups (recommendation text and severity) shown.
MAX_RECOMMENDATION_GROUPS = 30
#: Remediation actions shown per recommendation group.
MAX_REMEDIATIONS_PER_GROUP = 5
#: Steps shown per remediation, and characters per step.
MAX_STEPS, MAX_STEP_CHARS = 25, 500
#: Machines listed under all recommendation groups together (each group is capped at ``list_cap``).
MAX_RECOMMENDATION_MACHINES = 1000
#: Characters kept of a cloud-provided name and of an error message.
MAX_NAME_CHARS, MAX_ERROR_CHARS = 200, 300
#: Nights in the coverage trend (the most recent ones); every retained night is in ``coverage_daily``.
MAX_TREND_NIGHTS = 62
#: Width in pixels of a full (100 %) trend bar.
TREND_BAR_PX = 300
#: New machines still unprotected listed in the time-to-protect section, longest first.
MAX_UNPROTECTED_NEW = 20

STATUSES = tuple(STATUS_LABELS)  # protected, unhealthy, not_installed, unknown, exempt, not_applicable
#: Worst first: the order machines and verdict counts are listed in.
STATUS_ORDER = ("not_installed", "unhealthy", "unknown", "protected", "exempt", "not_applicable")
SEVERITY_ORDER = ("High", "Medium", "Low")


def _rank_sql(column: str, order: tuple[str, ...]) -> str:
    cases = " ".join(f"when '{value}' then {i}" for i, value in enumerate(order))
    return f"(case {column} {cases} else {len(order)} end)"


STATUS_RANK = _rank_sql("edr_status", STATUS_ORDER)

#: The change types of ``coverage_changes`` in display order:
#: (change type, title, meaning, colour level, rows listed at most, SQL order of the list).
CHANGE_TYPES: tuple[tuple[str, str, str, str, int, str], ...] = (
    ("newly_unprotected", "Newly unprotected",
     "Protected or exempt the previous night, tonight without working EDR (not installed or unhealthy).",
     "bad", 50, _rank_sql("current_status", STATUS_ORDER) + ", cloud, scope_id, machine_name, machine_key"),
    ("exemption_expiring", "Exemptions expiring",
     "Active exemptions ending within 14 days: these machines will need EDR or a renewed exemption.",
     "warn", 50, "detail, cloud, scope_id, machine_name, machine_key"),
    ("new_machine", "New machines", "Listed tonight but not the previous night; those without EDR first.",
     "none", 25, _rank_sql("current_status", STATUS_ORDER) + ", cloud, scope_id, machine_name, machine_key"),
    ("machine_gone", "Machines gone",
     "Listed the previous night but not tonight: deleted, or missing from tonight's extraction.",
     "none", 25, _rank_sql("previous_status", STATUS_ORDER) + ", cloud, scope_id, machine_name, machine_key"),
    ("newly_protected", "Newly protected", "Not protected the previous night, protected tonight.",
     "good", 25, "cloud, scope_id, machine_name, machine_key"),
)


def _clip(text: Any, limit: int = MAX_NAME_CHARS) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _int(value: Any) -> int:
    return int(value or 0)


# --------------------------------------------------------------------------------------------- snapshot


def _snapshot_date(con: duckdb.DuckDBPyConnection) -> date | None:
    found = scalar(con, "select max(snapshot_date) from coverage_summary")
    if found is None:
        found = scalar(con, "select max(snapshot_date) from machine_edr_status")
    return found


def _headline(con: duckdb.DuckDBPyConnection, snapshot: date) -> Headline:
    counts: dict[bool, dict[str, int]] = {True: {}, False: {}}
    for row in rows(con, "select coalesce(is_running, false) as running, edr_status, count(*) as n "
                         "from machine_edr_status where snapshot_date = ? group by all", [snapshot]):
        counts[bool(row["running"])][row["edr_status"]] = _int(row["n"])

    def verdicts(by_status: dict[str, int]) -> VerdictCounts:
        return VerdictCounts(machines=sum(by_status.values()),
                             **{status: by_status.get(status, 0) for status in STATUSES})

    running, stopped = verdicts(counts[True]), verdicts(counts[False])
    pct = scalar(con, "select coverage_pct from coverage_summary "
                      "where snapshot_date = ? and dimension = 'overall' limit 1", [snapshot])
    pct = None if pct is None else float(pct)
    return Headline(
        coverage_pct=pct,
        coverage_level=coverage_level(pct),
        machines=running.machines + stopped.machines,
        running=running,
        stopped=stopped,
        assessable_running=running.machines - running.exempt - running.not_applicable,
    )


# ------------------------------------------------------------------------------------------- breakdowns

#: (dimension, title, first column heading, value labels, SQL order, note)
BREAKDOWNS: tuple[tuple[str, str, str, dict[str, str] | None, str, str | None], ...] = (
    ("cloud", "By cloud", "Cloud", CLOUD_LABELS,
     _rank_sql("dimension_value", tuple(CLOUD_LABELS)) + ", dimension_value", None),
    ("scope", "By scope (subscription, account, project)", "Scope", None,
     "(coalesce(unhealthy, 0) + coalesce(not_installed, 0) + coalesce(unknown, 0)) desc, "
     "coverage_pct asc nulls last, machines desc, dimension_value",
     "Scopes with the most unhealthy, unprotected or unknown machines first."),
    ("os_family", "By operating system family", "OS family", OS_LABELS,
     _rank_sql("dimension_value", tuple(OS_LABELS)) + ", dimension_value", None),
    ("edr_product", "By EDR product", "EDR product", None, "machines desc, dimension_value",
     "A machine running several EDR products counts under each of them."),
    ("plan_status", "By Defender for Servers plan", "Plan", PLAN_LABELS,
     _rank_sql("dimension_value", tuple(PLAN_LABELS)) + ", dimension_value", None),
)

SUMMARY_COUNTS = ("machines", "running_machines", "stopped_machines", *STATUSES)


def _scope_labels(con: duckdb.DuckDBPyConnection, snapshot: date, values: list[str | None]
                  ) -> dict[str | None, tuple[str, str | None]]:
    """(label, detail) per scope ``dimension_value``: the scope id, and its cloud and kind ('AWS account').

    The value is either '<cloud> <scope_id>' (as the marts write it) or a bare scope id, whose cloud is then
    looked up in ``machine_edr_status``.
    """
    found: dict[str | None, tuple[str, list[str]]] = {}
    bare = []
    for value in values:
        cloud, _, scope_id = (value or "").partition(" ")
        if cloud in CLOUD_LABELS and scope_id:
            found[value] = (scope_id, [cloud])
        elif value:
            bare.append(value)
    if bare:
        for row in rows(con, "select distinct scope_id, cloud from machine_edr_status "
                             "where snapshot_date = ? and list_contains(?, scope_id) order by cloud",
                        [snapshot, bare]):
            found.setdefault(row["scope_id"], (row["scope_id"], []))[1].append(row["cloud"])
    return {
        value: (scope_id, ", ".join(f"{CLOUD_LABELS.get(c, c)} {scope_kind(c)}" for c in clouds) or None)
        for value, (scope_id, clouds) in found.items()
    }


def _breakdown(con: duckdb.DuckDBPyConnection, snapshot: date, list_cap: int, spec: tuple) -> Breakdown:
    dimension, title, heading, labels, order, note = spec
    total = _int(scalar(con, "select count(*) from coverage_summary "
                             "where snapshot_date = ? and dimension = ?", [snapshot, dimension]))
    found = rows(con, f"select * from coverage_summary where snapshot_date = ? and dimension = ? "
                      f"order by {order} limit ?", [snapshot, dimension, list_cap])
    scopes = {}
    if dimension == "scope":
        scopes = _scope_labels(con, snapshot, [r["dimension_value"] for r in found])
    table = []
    for row in found:
        value = row["dimension_value"]
        label = "(none)" if value is None or value == "" else (labels or {}).get(value, value)
        label, detail = scopes.get(value, (label, None))
        pct = None if row["coverage_pct"] is None else float(row["coverage_pct"])
        table.append(BreakdownRow(
            value=value,
            label=_clip(label),
            detail=detail,
            coverage_pct=pct,
            coverage_level=coverage_level(pct),
            **{name: _int(row[name]) for name in SUMMARY_COUNTS},
        ))
    return Breakdown(dimension=dimension, title=title, value_heading=heading, rows=table, total_rows=total,
                     omitted_rows=max(0, total - len(table)), note=note)


# ------------------------------------------------------------------------------------------ data quality


def _issue(row: dict[str, Any]) -> ExtractIssue:
    return ExtractIssue(
        cloud=_clip(row["cloud"]) or "",
        scope=_clip(row["scope"]) or "",
        dataset=_clip(row["dataset"]) or "",
        source=_clip(row["source"]) or "",
        status=row["status"] or "",
        rows=_int(row["rows"]),
        rejected_rows=_int(row["rejected_rows"]),
        error_class=_clip(row["error_class"]),
        error_message=_clip(row["error_message"], MAX_ERROR_CHARS),
    )


def _data_quality(con: duckdb.DuckDBPyConnection) -> DataQuality:
    """The most recent run in ``extract_runs`` (the view carries no snapshot date)."""
    latest = rows(con, "select run_id, min(started_at) as started, max(finished_at) as finished "
                       "from extract_runs group by run_id "
                       "order by max(coalesce(finished_at, started_at)) desc nulls last, run_id desc limit 1")
    if not latest:
        return DataQuality(run_id=None, run_started_at=None, run_finished_at=None, extracts=0, failed=[],
                           failed_total=0, skipped=[], skipped_total=0, rejected=[], rejected_total=0,
                           rejected_rows_total=0, has_warnings=False)
    run = latest[0]
    totals = rows(con, "select count(*) as extracts, "
                       "count(*) filter (where status = 'failed') as failed, "
                       "count(*) filter (where status = 'skipped') as skipped, "
                       "count(*) filter (where rejected_rows > 0) as rejecting, "
                       "coalesce(sum(rejected_rows), 0) as rejected_rows "
                       "from extract_runs where run_id = ?", [run["run_id"]])[0]
    columns = "cloud, scope, dataset, source, status, rows, rejected_rows, error_class, error_message"

    def listed(where: str, order: str) -> list[ExtractIssue]:
        sql = f"select {columns} from extract_runs where run_id = ? and {where} order by {order} limit ?"
        return [_issue(r) for r in rows(con, sql, [run["run_id"], MAX_BANNER_ITEMS])]

    failed_total, rejecting = _int(totals["failed"]), _int(totals["rejecting"])
    return DataQuality(
        run_id=run["run_id"],
        run_started_at=run["started"],
        run_finished_at=run["finished"],
        extracts=_int(totals["extracts"]),
        failed=listed("status = 'failed'", "cloud, scope, dataset"),
        failed_total=failed_total,
        skipped=listed("status = 'skipped'", "cloud, scope, dataset"),
        skipped_total=_int(totals["skipped"]),
        rejected=listed("rejected_rows > 0", "rejected_rows desc, cloud, scope, dataset"),
        rejected_total=rejecting,
        rejected_rows_total=_int(totals["rejected_rows"]),
        has_warnings=failed_total > 0 or rejecting > 0,
    )


# ------------------------------------------------------------------------------------------------ stopped


def _stopped(con: duckdb.DuckDBPyConnection, snapshot: date, list_cap: int) -> StoppedSection:
    where = "snapshot_date = ? and not coalesce(is_running, false)"
    by_power = [CountRow(label=POWER_LABELS.get(r["power_state"], _clip(r["power_state"]) or "(none)"),
                         count=_int(r["n"]))
                for r in rows(con, f"select power_state, count(*) as n from machine_edr_status where {where} "
                                   "group by all order by n desc, power_state", [snapshot])]
    by_status = [CountRow(label=STATUS_LABELS.get(r["edr_status"], _clip(r["edr_status"]) or "(none)"),
                          count=_int(r["n"]), level=status_level(r["edr_status"]))
                 for r in rows(con, f"select edr_status, count(*) as n from machine_edr_status where {where} "
                                    f"group by edr_status order by {STATUS_RANK}, edr_status", [snapshot])]
    total = sum(r.count for r in by_power)
    machines = [
        StoppedMachine(
            machine_name=_clip(r["machine_name"]) or "(unnamed)",
            cloud=r["cloud"] or "",
            scope_id=_clip(r["scope_id"]) or "",
            os_family=r["os_family"] or "",
            os_name=_clip(r["os_name"]),
            power_state=r["power_state"] or "unknown",
            edr_status=r["edr_status"] or "unknown",
            status_level=status_level(r["edr_status"]),
            status_reason=_clip(r["status_reason"]),
            owner=_clip(r["owner"]),
        )
        for r in rows(con, "select machine_name, cloud, scope_id, os_family, os_name, power_state, "
                           f"edr_status, status_reason, owner from machine_edr_status where {where} "
                           f"order by {STATUS_RANK}, cloud, scope_id, machine_name, machine_key limit ?",
                      [snapshot, list_cap])
    ]
    return StoppedSection(total=total, by_power_state=by_power, by_status=by_status, machines=machines,
                          omitted=max(0, total - len(machines)))


# ---------------------------------------------------------------------------------------- recommendations

NO_ACTION = "(no remediation action given)"
_STEP_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*\u2022])\s+")


def split_steps(text: str | None) -> list[str]:
    """Remediation steps as list items: one per non-empty line, leading numbering and bullets removed."""
    if not text:
        return []
    steps = [_STEP_MARKER.sub("", line).strip() for line in str(text).splitlines()]
    steps = [_clip(step, MAX_STEP_CHARS) for step in steps if step]
    if len(steps) > MAX_STEPS:
        steps = steps[:MAX_STEPS] + [f"\u2026 {len(steps) - MAX_STEPS} more steps in the database view"]
    return steps


def _remediation(row: dict[str, Any]) -> Remediation:
    varies = _int(row["step_variants"]) > 1
    return Remediation(
        action=_clip(row["remediation_action"]) or NO_ACTION,
        steps=split_steps(row["example_steps"]),
        machines=_int(row["machines"]),
        example_machine=(_clip(row["example_machine"]) or "(unnamed)") if varies else None,
    )


_RECOMMENDATION_CTES = f"""
with rec as (
    select *, coalesce(recommendation, '(no recommendation text)') as rec_text,
           coalesce(severity, 'Unknown') as sev
    from recommendations where snapshot_date = ?
), grp as (
    select rec_text, sev, count(distinct machine_key) as machines,
           row_number() over (order by {_rank_sql("sev", SEVERITY_ORDER)}, count(distinct machine_key) desc,
                              rec_text, sev) as grank
    from rec group by rec_text, sev
), shown as (select * from grp where grank <= ?)
"""


def _recommendations(con: duckdb.DuckDBPyConnection, snapshot: date, list_cap: int
                     ) -> tuple[list[RecommendationGroup], int, int, int]:
    totals = rows(con, "select count(*) as n, count(distinct machine_key) as machines, "
                       "count(distinct (coalesce(recommendation, ''), coalesce(severity, ''))) as groups "
                       "from recommendations where snapshot_date = ?", [snapshot])[0]
    params = [snapshot, MAX_RECOMMENDATION_GROUPS]
    groups = rows(con, _RECOMMENDATION_CTES + """
        select s.rec_text, s.sev, s.machines, s.grank, count(distinct r.recommendation_id) as id_count,
               list_slice(list_sort(list(distinct r.recommendation_id)), 1, 5) as ids
        from shown s join rec r using (rec_text, sev)
        group by s.rec_text, s.sev, s.machines, s.grank order by s.grank""", params)
    remediations: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows(con, _RECOMMENDATION_CTES + """
        select rec_text, sev, remediation_action, count(distinct machine_key) as machines,
               count(distinct coalesce(remediation_steps, '')) as step_variants,
               first(remediation_steps order by machine_name, machine_key) as example_steps,
               first(machine_name order by machine_name, machine_key) as example_machine
        from rec semi join shown using (rec_text, sev)
        group by rec_text, sev, remediation_action
        order by rec_text, sev, machines desc, remediation_action""", params):
        remediations.setdefault((row["rec_text"], row["sev"]), []).append(row)
    machines: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows(con, _RECOMMENDATION_CTES + f"""
        , one as (
            select * from rec semi join shown using (rec_text, sev)
            qualify row_number() over (partition by rec_text, sev, machine_key
                                       order by remediation_action, recommendation_id) = 1
        )
        select rec_text, sev, machine_name, cloud, scope_id, os_family, edr_status, plan_status,
               remediation_action
        from one
        qualify row_number() over (partition by rec_text, sev
                                   order by {STATUS_RANK}, cloud, scope_id, machine_name, machine_key) <= ?
        order by rec_text, sev, {STATUS_RANK}, cloud, scope_id, machine_name, machine_key""",
                    [*params, list_cap]):
        machines.setdefault((row["rec_text"], row["sev"]), []).append(row)

    budget = MAX_RECOMMENDATION_MACHINES
    result = []
    for g in groups:
        key = (g["rec_text"], g["sev"])
        listed = machines.get(key, [])[: max(0, min(list_cap, budget))]
        budget -= len(listed)
        all_rems = remediations.get(key, [])
        rems = all_rems[:MAX_REMEDIATIONS_PER_GROUP]
        ids = [str(i) for i in (g["ids"] or [])]
        id_text = ", ".join(_clip(i) for i in ids)
        if _int(g["id_count"]) > len(ids):
            id_text += f" and {_int(g['id_count']) - len(ids):,} more"
        result.append(RecommendationGroup(
            recommendation=_clip(g["rec_text"], 500),
            severity=g["sev"],
            severity_level=severity_level(g["sev"]),
            recommendation_ids=id_text,
            machines=_int(g["machines"]),
            remediations=[_remediation(r) for r in rems],
            omitted_remediations=len(all_rems) - len(rems),
            listed=[RecommendationMachine(
                machine_name=_clip(m["machine_name"]) or "(unnamed)",
                cloud=m["cloud"] or "",
                scope_id=_clip(m["scope_id"]) or "",
                os_family=m["os_family"] or "",
                edr_status=m["edr_status"] or "unknown",
                status_level=status_level(m["edr_status"]),
                plan_status=m["plan_status"] or "unknown",
                remediation_action=_clip(m["remediation_action"]) or "\u2014",
            ) for m in listed],
            omitted=max(0, _int(g["machines"]) - len(listed)),
        ))
    omitted_groups = max(0, _int(totals["groups"]) - len(result))
    return result, _int(totals["n"]), _int(totals["machines"]), omitted_groups


# ----------------------------------------------------------------------------------------------- changes


def _change_machine(row: dict[str, Any]) -> ChangeMachine:
    return ChangeMachine(
        machine_name=_clip(row["machine_name"]) or "(unnamed)",
        cloud=row["cloud"] or "",
        scope_id=_clip(row["scope_id"]) or "",
        owner=_clip(row["owner"]),
        previous_status=row["previous_status"],
        previous_level=status_level(row["previous_status"]),
        current_status=row["current_status"],
        current_level=status_level(row["current_status"]),
        detail=_clip(row["detail"]),
    )


def _changes(con: duckdb.DuckDBPyConnection, snapshot: date, list_cap: int) -> ChangesSection:
    """``coverage_changes`` of the snapshot: counts per change type and a capped list of each."""
    previous = scalar(con, "select max(previous_night) from coverage_changes where snapshot_date = ?",
                      [snapshot])
    if previous is None:  # no change row, or the first night: is there an earlier night at all?
        previous = scalar(con, "select max(snapshot_date) from coverage_daily where snapshot_date < ?",
                          [snapshot])
    counts = {r["change_type"]: _int(r["n"])
              for r in rows(con, "select change_type, count(*) as n from coverage_changes "
                                 "where snapshot_date = ? group by change_type", [snapshot])}
    groups = []
    for change_type, title, note, level, cap, order in CHANGE_TYPES:
        count = counts.get(change_type, 0)
        listed = [] if count == 0 else [_change_machine(r) for r in rows(
            con, "select machine_name, cloud, scope_id, owner, previous_status, current_status, detail "
                 f"from coverage_changes where snapshot_date = ? and change_type = ? order by {order} limit ?",
            [snapshot, change_type, min(cap, list_cap)])]
        groups.append(ChangeGroup(change_type=change_type, title=title, note=note, level=level, count=count,
                                  machines=listed, omitted=max(0, count - len(listed))))
    return ChangesSection(
        previous_night=previous,
        days_between=None if previous is None else (snapshot - previous).days,
        total=sum(g.count for g in groups),
        groups=groups,
    )


# ------------------------------------------------------------------------------------------------- trend


def _pct(protected: int, assessable: int) -> float | None:
    """Coverage rounded to two decimals as the coverage views round theirs; None when nothing is assessable."""
    return round(100.0 * protected / assessable, 2) if assessable > 0 else None


def _cloud_order(cloud: str) -> tuple[int, str]:
    order = tuple(CLOUD_LABELS)
    return (order.index(cloud) if cloud in order else len(order), cloud)


def _points(later: float | None, earlier: float | None) -> float | None:
    """Change in percentage points between two coverage figures as shown (one decimal)."""
    if later is None or earlier is None:
        return None
    return round(round(later, 1) - round(earlier, 1), 1)


def _trend(con: duckdb.DuckDBPyConnection, snapshot: date, cap: int) -> CoverageTrend:
    """``coverage_daily`` summed per night (and per night and cloud) over the most recent ``cap`` nights."""
    total = _int(scalar(con, "select count(distinct snapshot_date) from coverage_daily where snapshot_date <= ?",
                        [snapshot]))
    found = rows(con, """
        with shown as (
            select distinct snapshot_date from coverage_daily where snapshot_date <= ?
            order by snapshot_date desc limit ?
        )
        select snapshot_date as night, coalesce(cloud, '') as cloud,
               coalesce(sum(running_machines), 0) as running,
               coalesce(sum(protected), 0) as protected,
               coalesce(sum(running_machines), 0) - coalesce(sum(exempt), 0)
                   - coalesce(sum(not_applicable), 0) as assessable
        from coverage_daily semi join shown using (snapshot_date)
        group by all order by night, cloud""", [snapshot, cap])
    per_night: dict[date, dict[str, dict[str, Any]]] = {}
    for r in found:
        per_night.setdefault(r["night"], {})[r["cloud"]] = r
    clouds = sorted({c for by_cloud in per_night.values() for c in by_cloud}, key=_cloud_order)
    nights = []
    for night, by_cloud in per_night.items():
        protected = sum(_int(r["protected"]) for r in by_cloud.values())
        assessable = sum(_int(r["assessable"]) for r in by_cloud.values())
        pct = _pct(protected, assessable)
        fill = 0 if pct is None else max(0, min(TREND_BAR_PX, round(TREND_BAR_PX * pct / 100)))
        cells = []
        for cloud in clouds:
            r = by_cloud.get(cloud)
            p, a = (_int(r["protected"]), _int(r["assessable"])) if r else (0, 0)
            cloud_pct = _pct(p, a)
            cells.append(CloudCoverage(cloud=cloud, coverage_pct=cloud_pct,
                                       coverage_level=coverage_level(cloud_pct), protected=p, assessable=a))
        nights.append(CoverageNight(
            night=night,
            coverage_pct=pct,
            coverage_level=coverage_level(pct),
            protected=protected,
            assessable=assessable,
            running_machines=sum(_int(r["running"]) for r in by_cloud.values()),
            fill_px=fill,
            track_px=TREND_BAR_PX - fill,
            by_cloud=cells,
        ))
    latest = nights[-1].coverage_pct if nights else None
    return CoverageTrend(
        nights=nights,
        total_nights=total,
        omitted_nights=max(0, total - len(nights)),
        bar_px=TREND_BAR_PX,
        clouds=clouds,
        change_previous=_points(latest, nights[-2].coverage_pct) if len(nights) > 1 else None,
        change_window=_points(latest, nights[0].coverage_pct) if len(nights) > 2 else None,
    )


# --------------------------------------------------------------------------------------- time to protect


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


_TTP_CTE = """
with tonight as (
    select machine_key, any_value(edr_status) as edr_status from machine_edr_status
    where snapshot_date = ? group by machine_key
), ttp as (
    select t.*, n.machine_key is not null as listed, n.edr_status,
           coalesce(t.days_unprotected_so_far, date_diff('day', t.first_seen, ?)) as days_so_far
    from time_to_protect as t left join tonight as n on n.machine_key = t.machine_key
    where t.first_seen <= ?
)
"""


def _time_to_protect(con: duckdb.DuckDBPyConnection, snapshot: date, list_cap: int) -> TimeToProtect:
    """A summary of ``time_to_protect``, and the new machines still unprotected tonight, longest first."""
    window = rows(con, "select min(snapshot_date) as first_night, count(distinct snapshot_date) as nights "
                       "from coverage_daily where snapshot_date <= ?", [snapshot])[0]
    params = [snapshot, snapshot, snapshot]
    t = rows(con, _TTP_CTE + """
        select count(*) as new_machines,
               count(*) filter (where first_protected is not null) as protected,
               median(days_to_protect) filter (where first_protected is not null) as median_days,
               max(days_to_protect) filter (where first_protected is not null) as max_days,
               count(*) filter (where first_protected is null and listed) as still_unprotected,
               median(days_so_far) filter (where first_protected is null and listed) as median_unprotected,
               max(days_so_far) filter (where first_protected is null and listed) as max_unprotected,
               count(*) filter (where first_protected is null and not listed) as gone_unprotected
        from ttp""", params)[0]
    cap = min(list_cap, MAX_UNPROTECTED_NEW)
    machines = [
        UnprotectedNewMachine(
            machine_name=_clip(r["machine_name"]) or "(unnamed)",
            cloud=r["cloud"] or "",
            scope_id=_clip(r["scope_id"]) or "",
            owner=_clip(r["owner"]),
            first_seen=r["first_seen"],
            days_unprotected=_int(r["days_so_far"]),
            edr_status=r["edr_status"] or "unknown",
            status_level=status_level(r["edr_status"]),
        )
        for r in rows(con, _TTP_CTE + f"""
            select machine_name, cloud, scope_id, owner, first_seen, days_so_far, edr_status from ttp
            where first_protected is null and listed
            order by days_so_far desc, {STATUS_RANK}, cloud, scope_id, machine_name, machine_key limit ?""",
                      [*params, cap])
    ]
    still = _int(t["still_unprotected"])
    return TimeToProtect(
        first_night=window["first_night"],
        nights=_int(window["nights"]),
        new_machines=_int(t["new_machines"]),
        protected=_int(t["protected"]),
        median_days=_opt_float(t["median_days"]),
        max_days=_opt_int(t["max_days"]),
        still_unprotected=still,
        median_days_unprotected=_opt_float(t["median_unprotected"]),
        max_days_unprotected=_opt_int(t["max_unprotected"]),
        gone_unprotected=_int(t["gone_unprotected"]),
        machines=machines,
        omitted=max(0, still - len(machines)),
    )


# ---------------------------------------------------------------------------------------------- public API


def _empty_headline() -> Headline:
    return Headline(coverage_pct=None, coverage_level="none", machines=0, running=VerdictCounts(),
                    stopped=VerdictCounts(), assessable_running=0)


def build_coverage_context(con: duckdb.DuckDBPyConnection, *, list_cap: int = 200) -> CoverageContext:
    """Read the latest snapshot's coverage, extraction health, open recommendations, the changes since the
    previous night, the coverage trend and the time to protect new machines into a context.

    ``list_cap`` is the maximum number of rows of any one list (scopes, stopped machines, machines per
    recommendation, machines per change type, trend nights). Raises :class:`reports.db.ViewContractError`
    when a view or column is missing.
    """
    if list_cap < 1:
        raise ValueError("list_cap must be at least 1")
    check_views(con, COVERAGE_VIEW_COLUMNS)
    generated_at = datetime.now(UTC)
    snapshot = _snapshot_date(con)
    data_quality = _data_quality(con)
    if snapshot is None:
        return CoverageContext(title="EDR coverage report", snapshot_date=None, generated_at=generated_at,
                               list_cap=list_cap, has_data=False, headline=_empty_headline(),
                               data_quality=data_quality)
    headline = _headline(con, snapshot)
    groups, rec_rows, rec_machines, omitted_groups = _recommendations(con, snapshot, list_cap)
    return CoverageContext(
        title=f"EDR coverage report \u2014 {snapshot.isoformat()}",
        snapshot_date=snapshot,
        generated_at=generated_at,
        list_cap=list_cap,
        has_data=headline.machines > 0,
        headline=headline,
        data_quality=data_quality,
        breakdowns=[_breakdown(con, snapshot, list_cap, spec) for spec in BREAKDOWNS],
        stopped=_stopped(con, snapshot, list_cap),
        recommendations=groups,
        recommendation_rows=rec_rows,
        recommendation_machines=rec_machines,
        omitted_recommendations=omitted_groups,
        changes=_changes(con, snapshot, list_cap),
        trend=_trend(con, snapshot, min(list_cap, MAX_TREND_NIGHTS)),
        time_to_protect=_time_to_protect(con, snapshot, list_cap),
    )


def render_coverage(context: CoverageContext) -> str:
    """Render the report to HTML with every CSS rule inlined into ``style=`` attributes."""
    return render_report(TEMPLATE, context)


def write_coverage_report(db_path: Path, out_dir: Path, *, list_cap: int = 200,
                          lake: str | Path | None = None) -> Path:
    """Render the report of the database at ``db_path`` (opened read-only) to ``out_dir/coverage.html``.

    Writes atomically (temporary file, then rename). Should the page ever exceed ``MAX_HTML_BYTES``, the
    list cap is halved until it fits. ``lake``: the lake the database was built from (see ``render_within``).
    Returns the path written.
    """
    html = render_within(db_path, build_coverage_context, render_coverage, list_cap=list_cap,
                         max_bytes=MAX_HTML_BYTES, lake=lake)
    return write_atomic(Path(out_dir) / REPORT_FILENAME, html)
