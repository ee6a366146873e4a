"""The hourly licensing-cost report: Defender for Servers cost as an email-safe HTML page.

Public API::

    build_licensing_context(con, *, list_cap=200) -> LicensingContext
    render_licensing(context) -> str                       # HTML with every CSS rule inlined
    write_licensing_report(db_path, out_dir, *, list_cap=200, lake=None) -> Path   # out_dir/licensing.html

It reads the views ``license_hours``, ``license_cost_daily``, ``license_cost_summary``,
``license_comparison``, ``license_gap``, ``license_overlap`` and ``machine_history`` and the table
``build_info`` (see ``sql/schema.yml``). Headline figures use the central estimate of the running hours,
with the low-high range beside them. Every list is capped (``list_cap`` rows, fewer for the trend) so the
page stays well under 2 MB whatever the size of the estate; each cap prints how many rows it left out and
which view holds them all. Without any night of cost data yet (the first night has no interval before it)
the page says so instead of showing zeros.
"""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from reports.db import check_views, rows, scalar
from reports.files import render_within, write_atomic
from reports.licensing_context import (
    Comparison,
    ComparisonRow,
    CostBreakdown,
    CostRow,
    GapRow,
    GapSection,
    LicensingContext,
    LicensingHeadline,
    MethodSection,
    OverlapRow,
    OverlapSection,
    PriceRow,
    SeatPrice,
    Trend,
    TrendNight,
)
from reports.render import CLOUD_LABELS, PLAN_LABELS, STATUS_LABELS, render_report, scope_kind

TEMPLATE = "licensing.html.j2"
REPORT_FILENAME = "licensing.html"

#: The written page is kept under this size; ``write_licensing_report`` lowers the caps if ever needed.
MAX_HTML_BYTES = 2_000_000
#: Nights in the trend (the most recent ones); the whole history is in ``license_cost_daily``.
MAX_TREND_NIGHTS = 62
#: Width in pixels of a full trend bar, and of a full share bar in the breakdowns.
TREND_BAR_PX, SHARE_BAR_PX = 360, 60
#: Price rows shown in the method section.
MAX_PRICE_ROWS = 12
#: Characters kept of a cloud-provided string (scope id, owner tag, product list).
MAX_NAME_CHARS = 200
#: Hours of the per-seat month in ``license_comparison``: the default seat price is the hourly price x 730.
SEAT_HOURS = 730

#: The view columns this report reads (a subset of the documented contract in ``sql/schema.yml``).
LICENSING_VIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "license_hours": (
        "machine_key", "snapshot_date", "plan_status", "running_hours_low", "running_hours_high",
        "estimate_method", "billable_hours", "hourly_price", "currency", "cost_low", "cost", "cost_high",
    ),
    "license_cost_daily": (
        "snapshot_date", "cloud", "plan_status", "billed_machines", "billable_hours", "cost_low", "cost",
        "cost_high", "currency",
    ),
    "license_cost_summary": (
        "period", "dimension", "dimension_value", "period_start", "machines", "billable_hours", "cost_low",
        "cost", "cost_high", "currency",
    ),
    "license_comparison": (
        "plan", "machines", "billable_hours", "hourly_cost_mtd", "hourly_cost_projected", "seat_price_monthly",
        "per_seat_cost_month", "saving", "saving_pct", "currency",
    ),
    "license_gap": (
        "cloud", "scope_id", "plan_status", "machines_without_edr", "added_hourly_cost", "added_cost_30_days",
        "currency",
    ),
    "license_overlap": (
        "cloud", "scope_id", "edr_products", "machines", "plan2_hours_mtd", "plan2_cost_mtd",
        "saving_if_plan1_mtd", "currency",
    ),
    "machine_history": ("machine_key", "snapshot_date"),
    "build_info": ("snapshot_date",),
}

COMPARISON_LABELS = {"p2": "Plan 2", "p1": "Plan 1", "all": "All plans"}


def _rank_sql(column: str, order: tuple[str, ...]) -> str:
    cases = " ".join(f"when '{value}' then {i}" for i, value in enumerate(order))
    return f"(case {column} {cases} else {len(order)} end)"


def _clip(text: Any, limit: int = MAX_NAME_CHARS) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _int(value: Any) -> int:
    return int(value or 0)


def _float(value: Any) -> float:
    return float(value or 0)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _px(value: float, scale: float, width: int) -> int:
    if scale <= 0 or value <= 0:
        return 0
    return max(0, min(width, round(width * value / scale)))


# ------------------------------------------------------------------------------------------------ headline


def _currency(con: duckdb.DuckDBPyConnection) -> str:
    for view in ("license_cost_summary", "license_hours", "license_gap"):
        found = scalar(con, f"select any_value(currency) from {view} where currency is not null")
        if found:
            return _clip(found, 12) or ""
    return ""


def _pivot(con: duckdb.DuckDBPyConnection, dimension: str, order: str | None = None,
           limit: int | None = None) -> list[dict[str, Any]]:
    """One row per ``dimension_value``: the day, month-to-date and projected figures side by side."""
    sql = """
        select dimension_value as value,
            max(machines) filter (where period = 'month_to_date') as machines,
            max(billable_hours) filter (where period = 'month_to_date') as mtd_hours,
            max(cost) filter (where period = 'day') as day_cost,
            max(cost_low) filter (where period = 'day') as day_cost_low,
            max(cost_high) filter (where period = 'day') as day_cost_high,
            max(billable_hours) filter (where period = 'day') as day_hours,
            max(machines) filter (where period = 'day') as day_machines,
            max(cost) filter (where period = 'month_to_date') as mtd_cost,
            max(cost_low) filter (where period = 'month_to_date') as mtd_cost_low,
            max(cost_high) filter (where period = 'month_to_date') as mtd_cost_high,
            max(cost) filter (where period = 'projected_month_end') as projected_cost,
            max(cost_low) filter (where period = 'projected_month_end') as projected_cost_low,
            max(cost_high) filter (where period = 'projected_month_end') as projected_cost_high
        from license_cost_summary where dimension = ? group by dimension_value"""
    params: list[Any] = [dimension]
    if order:
        sql = f"select * from ({sql}) order by {order}"
    if limit is not None:
        sql += " limit ?"
        params.append(limit)
    return rows(con, sql, params)


def _headline(con: duckdb.DuckDBPyConnection, latest: date) -> LicensingHeadline | None:
    overall = _pivot(con, "overall")
    if not overall:
        return None
    o = overall[0]
    month_start = latest.replace(day=1)
    days_in_month = calendar.monthrange(latest.year, latest.month)[1]
    nights = rows(con, "select count(distinct snapshot_date) as month_nights, "
                       "count(distinct snapshot_date) filter (where snapshot_date > ?) as week_nights "
                       "from license_hours where snapshot_date >= ? and snapshot_date <= ?",
                  [latest - timedelta(days=7), month_start, latest])[0]
    with_data = _int(nights["month_nights"])
    projected_days = max(0, days_in_month - with_data)
    mtd, projected = _float(o["mtd_cost"]), _float(o["projected_cost"])
    return LicensingHeadline(
        month_start=month_start,
        month_label=f"{calendar.month_name[latest.month]} {latest.year}",
        latest_night=latest,
        days_in_month=days_in_month,
        nights_with_data=with_data,
        days_projected=projected_days,
        run_rate_nights=_int(nights["week_nights"]),
        run_rate=(projected - mtd) / projected_days if projected_days else None,
        mtd_cost=mtd,
        mtd_cost_low=_float(o["mtd_cost_low"]),
        mtd_cost_high=_float(o["mtd_cost_high"]),
        mtd_hours=_float(o["mtd_hours"]),
        mtd_machines=_int(o["machines"]),
        projected_cost=projected,
        projected_cost_low=_float(o["projected_cost_low"]),
        projected_cost_high=_float(o["projected_cost_high"]),
        day_cost=_float(o["day_cost"]),
        day_cost_low=_float(o["day_cost_low"]),
        day_cost_high=_float(o["day_cost_high"]),
        day_hours=_float(o["day_hours"]),
        day_machines=_int(o["day_machines"]),
    )


# --------------------------------------------------------------------------------------------------- trend


def _trend(con: duckdb.DuckDBPyConnection, latest: date | None, cap: int) -> Trend:
    total = _int(scalar(con, "select count(distinct snapshot_date) from license_cost_daily"))
    found = rows(con, """
        select snapshot_date as night, coalesce(sum(cost), 0) as cost, coalesce(sum(cost_low), 0) as cost_low,
            coalesce(sum(cost_high), 0) as cost_high, coalesce(sum(billed_machines), 0) as billed_machines,
            coalesce(sum(billable_hours), 0) as billable_hours
        from license_cost_daily group by snapshot_date order by snapshot_date desc limit ?""", [cap])
    found.reverse()
    scale = max([max(_float(r["cost_high"]), _float(r["cost"])) for r in found], default=0.0)
    month = (latest.year, latest.month) if latest else None
    nights = []
    for r in found:
        low, high = _float(r["cost_low"]), max(_float(r["cost_high"]), _float(r["cost"]))
        low_px = _px(low, scale, TREND_BAR_PX)
        high_px = max(low_px, _px(high, scale, TREND_BAR_PX))
        nights.append(TrendNight(
            night=r["night"],
            cost=_float(r["cost"]),
            cost_low=low,
            cost_high=_float(r["cost_high"]),
            billed_machines=_int(r["billed_machines"]),
            billable_hours=_float(r["billable_hours"]),
            low_px=low_px,
            range_px=high_px - low_px,
            track_px=TREND_BAR_PX - high_px,
            in_month=(r["night"].year, r["night"].month) == month,
        ))
    return Trend(nights=nights, total_nights=total, omitted_nights=max(0, total - len(nights)),
                 bar_px=TREND_BAR_PX, scale_max=scale,
                 has_ranges=any(n.cost_high - n.cost_low > 0.005 for n in nights))


# ---------------------------------------------------------------------------------------------- breakdowns

_BY_COST = "projected_cost desc nulls last, mtd_cost desc nulls last, value"
#: (dimension, title, first column heading, value labels, SQL order, note)
BREAKDOWNS: tuple[tuple[str, str, str, dict[str, str] | None, str, str | None], ...] = (
    ("cloud", "By cloud", "Cloud", CLOUD_LABELS, _rank_sql("value", tuple(CLOUD_LABELS)) + ", value", None),
    ("scope", "By scope (subscription, account, project)", "Scope", None, _BY_COST,
     "Largest projected cost first."),
    ("plan", "By Defender for Servers plan", "Plan", PLAN_LABELS, _rank_sql("value", tuple(PLAN_LABELS)) + ", value",
     "Only Plan 1 and Plan 2 are billed; machines whose plan is off or unknown cost nothing here."),
    ("owner", "By owner tag", "Owner", None, _BY_COST,
     "The owner tag or label of each machine, largest projected cost first."),
    ("edr_status", "By EDR status", "EDR status", STATUS_LABELS,
     _rank_sql("value", tuple(STATUS_LABELS)) + ", value",
     "The machine's EDR verdict on each night. Cost on machines that are not installed, unhealthy or unknown "
     "pays for a plan whose endpoint protection is not working on them."),
)


def _scope_label(value: str | None) -> tuple[str, str | None]:
    """(label, detail) of a scope ``dimension_value`` '<cloud> <scope_id>': the id, and 'AWS account'."""
    cloud, _, scope_id = (value or "").partition(" ")
    if cloud in CLOUD_LABELS and scope_id:
        return scope_id, f"{CLOUD_LABELS[cloud]} {scope_kind(cloud)}"
    return value or "(none)", None


def _cost_row(row: dict[str, Any], label: str, detail: str | None, overall_projected: float) -> CostRow:
    projected = _float(row["projected_cost"])
    share = 100 * projected / overall_projected if overall_projected > 0 else None
    return CostRow(
        value=row["value"],
        label=_clip(label) or "(none)",
        detail=detail,
        machines=_int(row["machines"]),
        mtd_hours=_float(row["mtd_hours"]),
        day_cost=_float(row["day_cost"]),
        mtd_cost=_float(row["mtd_cost"]),
        projected_cost=projected,
        projected_cost_low=_float(row["projected_cost_low"]),
        projected_cost_high=_float(row["projected_cost_high"]),
        share_pct=share,
        share_px=_px(share or 0, 100, SHARE_BAR_PX),
    )


def _breakdown(con: duckdb.DuckDBPyConnection, list_cap: int, spec: tuple, overall: dict[str, Any]
               ) -> CostBreakdown:
    dimension, title, heading, labels, order, note = spec
    total_rows = _int(scalar(con, "select count(distinct dimension_value) from license_cost_summary "
                                  "where dimension = ?", [dimension]))
    overall_projected = _float(overall["projected_cost"])
    table = []
    for row in _pivot(con, dimension, order, list_cap):
        value = row["value"]
        if dimension == "scope":
            label, detail = _scope_label(value)
        else:
            label, detail = ("(none)" if value in (None, "") else (labels or {}).get(value, value)), None
        table.append(_cost_row(row, label, detail, overall_projected))
    return CostBreakdown(dimension=dimension, title=title, value_heading=heading, rows=table,
                         total=_cost_row(overall, "Total", None, overall_projected), total_rows=total_rows,
                         omitted_rows=max(0, total_rows - len(table)), note=note)


# ---------------------------------------------------------------------------------------------- comparison


def _comparison(con: duckdb.DuckDBPyConnection, latest: date) -> Comparison:
    hourly = {r["plan_status"]: _opt_float(r["price"]) for r in rows(
        con, "select plan_status, max(hourly_price) as price from license_hours "
             "where snapshot_date = ? and plan_status in ('p1', 'p2') group by plan_status", [latest])}
    found = rows(con, "select * from license_comparison where machines is not null "
                      f"order by {_rank_sql('plan', tuple(COMPARISON_LABELS))}, plan")
    table, seats = [], []
    for r in found:
        plan = str(r["plan"])
        saving = _opt_float(r["saving"])
        table.append(ComparisonRow(
            plan=plan,
            label=COMPARISON_LABELS.get(plan, _clip(plan) or ""),
            machines=_int(r["machines"]),
            billable_hours=_float(r["billable_hours"]),
            hourly_cost_mtd=_opt_float(r["hourly_cost_mtd"]),
            hourly_cost_projected=_opt_float(r["hourly_cost_projected"]),
            seat_price_monthly=None if plan == "all" else _opt_float(r["seat_price_monthly"]),
            per_seat_cost_month=_opt_float(r["per_seat_cost_month"]),
            saving=saving,
            saving_pct=_opt_float(r["saving_pct"]),
            saving_level="none" if not saving else ("good" if saving > 0 else "bad"),
            is_total=plan == "all",
        ))
        if plan in ("p1", "p2"):
            monthly, price = _opt_float(r["seat_price_monthly"]), hourly.get(plan)
            is_default = None if monthly is None or price is None else abs(monthly - price * SEAT_HOURS) < 0.001
            seats.append(SeatPrice(plan=plan, monthly_price=monthly, hourly_price=price, is_default=is_default))
    return Comparison(rows=table, seat_prices=seats, all_default=all(s.is_default is not False for s in seats))


# ------------------------------------------------------------------------------------------ gap and overlap


def _gap(con: duckdb.DuckDBPyConnection, list_cap: int) -> GapSection:
    totals = rows(con, "select count(*) as n, coalesce(sum(machines_without_edr), 0) as machines, "
                       "coalesce(sum(added_hourly_cost), 0) as hourly, coalesce(sum(added_cost_30_days), 0) as d30, "
                       "coalesce(sum(machines_without_edr) filter (where plan_status = 'p2'), 0) as on_p2 "
                       "from license_gap")[0]
    listed = [
        GapRow(cloud=r["cloud"] or "", scope_id=_clip(r["scope_id"]) or "", plan_status=r["plan_status"] or "unknown",
               machines_without_edr=_int(r["machines_without_edr"]),
               added_hourly_cost=_float(r["added_hourly_cost"]),
               added_cost_30_days=_float(r["added_cost_30_days"]))
        for r in rows(con, "select * from license_gap order by added_cost_30_days desc nulls last, "
                           "machines_without_edr desc, cloud, scope_id, plan_status limit ?", [list_cap])
    ]
    return GapSection(rows=listed, total_rows=_int(totals["n"]), omitted_rows=max(0, _int(totals["n"]) - len(listed)),
                      machines=_int(totals["machines"]), added_hourly_cost=_float(totals["hourly"]),
                      added_cost_30_days=_float(totals["d30"]), machines_on_plan2=_int(totals["on_p2"]))


def _overlap(con: duckdb.DuckDBPyConnection, list_cap: int) -> OverlapSection:
    totals = rows(con, "select count(*) as n, coalesce(sum(machines), 0) as machines, "
                       "coalesce(sum(plan2_hours_mtd), 0) as hours, coalesce(sum(plan2_cost_mtd), 0) as cost, "
                       "coalesce(sum(saving_if_plan1_mtd), 0) as saving from license_overlap")[0]
    listed = [
        OverlapRow(cloud=r["cloud"] or "", scope_id=_clip(r["scope_id"]) or "",
                   edr_products=_clip(r["edr_products"]) or "(none named)", machines=_int(r["machines"]),
                   plan2_hours_mtd=_float(r["plan2_hours_mtd"]), plan2_cost_mtd=_float(r["plan2_cost_mtd"]),
                   saving_if_plan1_mtd=_float(r["saving_if_plan1_mtd"]))
        for r in rows(con, "select * from license_overlap order by plan2_cost_mtd desc nulls last, machines desc, "
                           "cloud, scope_id, edr_products limit ?", [list_cap])
    ]
    return OverlapSection(rows=listed, total_rows=_int(totals["n"]),
                          omitted_rows=max(0, _int(totals["n"]) - len(listed)), machines=_int(totals["machines"]),
                          plan2_hours_mtd=_float(totals["hours"]), plan2_cost_mtd=_float(totals["cost"]),
                          saving_if_plan1_mtd=_float(totals["saving"]))


# -------------------------------------------------------------------------------------------------- method


def _method(con: duckdb.DuckDBPyConnection, headline: LicensingHeadline | None) -> MethodSection:
    counts = rows(con, """
        select count(*) as n, count(*) filter (where estimate_method = 'exact') as exact,
            count(*) filter (where estimate_method = 'bounded') as bounded,
            coalesce(sum(running_hours_high - running_hours_low)
                     filter (where estimate_method = 'bounded' and plan_status in ('p1', 'p2')), 0) as spread,
            min(snapshot_date) as first_cost_night
        from license_hours""")[0]
    history = rows(con, "select min(snapshot_date) as first_night, count(distinct snapshot_date) as nights "
                        "from machine_history")[0]
    prices = rows(con, """
        select plan_status as plan, hourly_price, min(snapshot_date) as first_night, max(snapshot_date) as last_night
        from license_hours where plan_status in ('p1', 'p2') and hourly_price is not null
        group by plan_status, hourly_price order by plan_status desc, last_night desc limit ?""", [MAX_PRICE_ROWS])
    n, exact, bounded = _int(counts["n"]), _int(counts["exact"]), _int(counts["bounded"])
    return MethodSection(
        machine_nights=n,
        exact_nights=exact,
        bounded_nights=bounded,
        exact_pct=100 * exact / n if n else None,
        bounded_pct=100 * bounded / n if n else None,
        bounded_hours_spread=_float(counts["spread"]),
        mtd_spread=(headline.mtd_cost_high - headline.mtd_cost_low) if headline else 0.0,
        first_retained_night=history["first_night"],
        first_cost_night=counts["first_cost_night"],
        retained_nights=_int(history["nights"]),
        prices=[PriceRow(plan=p["plan"], hourly_price=_float(p["hourly_price"]), first_night=p["first_night"],
                         last_night=p["last_night"]) for p in prices],
        price_changed=len({p["plan"] for p in prices}) < len(prices),
    )


# ---------------------------------------------------------------------------------------------- public API


def build_licensing_context(con: duckdb.DuckDBPyConnection, *, list_cap: int = 200) -> LicensingContext:
    """Read the licensing views of the database into a :class:`LicensingContext`.

    ``list_cap`` is the maximum number of rows of any one list (scopes, owners, gap and overlap rows; the
    trend shows at most ``MAX_TREND_NIGHTS`` nights). Raises :class:`reports.db.ViewContractError` when a
    view or column is missing.
    """
    if list_cap < 1:
        raise ValueError("list_cap must be at least 1")
    check_views(con, LICENSING_VIEW_COLUMNS)
    generated_at = datetime.now(UTC)
    latest = scalar(con, "select max(snapshot_date) from license_hours")
    snapshot = scalar(con, "select max(snapshot_date) from build_info") or latest
    title = "Defender for Servers hourly licensing cost"
    if snapshot is not None:
        title += f" \u2014 {snapshot.isoformat()}"
    headline = _headline(con, latest) if latest is not None else None
    has_data = headline is not None
    context = LicensingContext(
        title=title,
        snapshot_date=snapshot,
        generated_at=generated_at,
        list_cap=list_cap,
        currency=_currency(con),
        has_data=has_data,
        headline=headline,
        trend=_trend(con, latest, min(list_cap, MAX_TREND_NIGHTS)),
        gap=_gap(con, list_cap),
        method=_method(con, headline),
    )
    if not has_data:
        return context
    overall = _pivot(con, "overall")[0]
    return replace(
        context,
        breakdowns=[_breakdown(con, list_cap, spec, overall) for spec in BREAKDOWNS],
        comparison=_comparison(con, latest),
        overlap=_overlap(con, list_cap),
    )


def render_licensing(context: LicensingContext) -> str:
    """Render the report to HTML with every CSS rule inlined into ``style=`` attributes."""
    return render_report(TEMPLATE, context)


def write_licensing_report(db_path: Path, out_dir: Path, *, list_cap: int = 200,
                          lake: str | Path | None = None) -> Path:
    """Render the report of the database at ``db_path`` (opened read-only) to ``out_dir/licensing.html``.

    Writes atomically (temporary file, then rename). Should the page ever exceed ``MAX_HTML_BYTES``, the
    list cap is halved until it fits. ``lake``: the lake the database was built from (see ``render_within``).
    Returns the path written.
    """
    html = render_within(db_path, build_licensing_context, render_licensing, list_cap=list_cap,
                         max_bytes=MAX_HTML_BYTES, lake=lake)
    return write_atomic(Path(out_dir) / REPORT_FILENAME, html)
