"""Typed context of the hourly licensing-cost report: everything its templates may use, and what it means.

Every top-level template variable of ``licensing.html.j2`` (and its ``_lic_*`` partials) is a field of
:class:`LicensingContext`, and every attribute a template reads is a field of one of the dataclasses below;
``tests/reports/test_licensing_context_docs.py`` checks both, and that each field is described in its
class's ``Attributes:`` docstring section. Values are plain data: amounts are floats in the report's
currency (formatted by the ``money``/``rate`` filters), raw strings from the clouds stay raw here and are
escaped by the template environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

#: Colour levels the templates map to styles: green, amber, red, grey.
Level = str


@dataclass(frozen=True)
class LicensingHeadline:
    """The figures at the top of the report, all from ``license_cost_summary`` (dimension 'overall').

    Attributes:
        month_start: first day of the month the figures are for (the month of the latest night).
        month_label: that month for display, e.g. 'November 2026'.
        latest_night: the latest night with cost data (closes the last interval).
        days_in_month: days in that month.
        nights_with_data: nights of the month with cost data in ``license_hours``.
        days_projected: nights of the month without data, filled by the projection at the run rate.
        run_rate_nights: nights of the last seven days the run rate is the average of.
        run_rate: average daily cost (central) over those nights, or None when nothing is projected.
        mtd_cost: month-to-date cost, central estimate.
        mtd_cost_low: month-to-date cost at the low bound of the running hours.
        mtd_cost_high: month-to-date cost at the high bound of the running hours.
        mtd_hours: billable hours this month (central).
        mtd_machines: machines with billable hours this month.
        projected_cost: projected month-end cost, central estimate (the headline figure).
        projected_cost_low: projected month-end cost at the low bound.
        projected_cost_high: projected month-end cost at the high bound.
        day_cost: the latest night's cost (central).
        day_cost_low: the latest night's cost at the low bound.
        day_cost_high: the latest night's cost at the high bound.
        day_hours: the latest night's billable hours (central).
        day_machines: machines billed on the latest night (with billable hours).
    """

    month_start: date
    month_label: str
    latest_night: date
    days_in_month: int
    nights_with_data: int
    days_projected: int
    run_rate_nights: int
    run_rate: float | None
    mtd_cost: float
    mtd_cost_low: float
    mtd_cost_high: float
    mtd_hours: float
    mtd_machines: int
    projected_cost: float
    projected_cost_low: float
    projected_cost_high: float
    day_cost: float
    day_cost_low: float
    day_cost_high: float
    day_hours: float
    day_machines: int


@dataclass(frozen=True)
class TrendNight:
    """One night of the daily cost trend (``license_cost_daily`` summed over clouds and plans), as a bar.

    Attributes:
        night: the night closing the interval.
        cost: cost of the interval (central).
        cost_low: cost at the low bound.
        cost_high: cost at the high bound.
        billed_machines: machines with billable hours that night.
        billable_hours: billable hours that night (central).
        low_px: width in pixels of the solid part of the bar (the low bound).
        range_px: width in pixels of the pale part (from the low to the high bound); 0 when exact.
        track_px: width in pixels of the empty rest of the bar.
        in_month: True when the night counts towards the month-to-date figures.
    """

    night: date
    cost: float
    cost_low: float
    cost_high: float
    billed_machines: int
    billable_hours: float
    low_px: int
    range_px: int
    track_px: int
    in_month: bool


@dataclass(frozen=True)
class Trend:
    """The daily cost trend over the retained nights: one horizontal bar per night, oldest first.

    Attributes:
        nights: the nights shown, the most recent ones when capped, oldest first.
        total_nights: nights with cost data in ``license_cost_daily``.
        omitted_nights: earlier nights not shown because of the cap.
        bar_px: full width of a bar in pixels; the highest high bound shown fills it.
        scale_max: the amount a full bar stands for (the highest high bound shown).
        has_ranges: True when any night shown has a low bound below its high bound.
    """

    nights: list[TrendNight]
    total_nights: int
    omitted_nights: int
    bar_px: int
    scale_max: float
    has_ranges: bool


@dataclass(frozen=True)
class CostRow:
    """One group of machines in a cost breakdown (``license_cost_summary`` rows of one dimension value).

    Attributes:
        value: the raw ``dimension_value``.
        label: display name of the value, e.g. 'Azure' for 'azure' or the scope id.
        detail: secondary text, e.g. the cloud and kind of a scope ('AWS account'), or None.
        machines: machines with billable hours this month.
        mtd_hours: billable hours this month (central).
        day_cost: the latest night's cost (central).
        mtd_cost: month-to-date cost (central).
        projected_cost: projected month-end cost (central).
        projected_cost_low: projected month-end cost at the low bound.
        projected_cost_high: projected month-end cost at the high bound.
        share_pct: share of the overall projected cost (0-100), or None when that is zero.
        share_px: width in pixels (0-60) of the share bar.
    """

    value: str | None
    label: str
    detail: str | None
    machines: int
    mtd_hours: float
    day_cost: float
    mtd_cost: float
    projected_cost: float
    projected_cost_low: float
    projected_cost_high: float
    share_pct: float | None
    share_px: int


@dataclass(frozen=True)
class CostBreakdown:
    """A cost breakdown table: the rows of one ``license_cost_summary`` dimension and the overall total.

    Attributes:
        dimension: the ``license_cost_summary.dimension`` value, e.g. 'scope'.
        title: section heading, e.g. 'By scope (subscription, account, project)'.
        value_heading: heading of the first column, e.g. 'Scope'.
        rows: the rows shown, at most the list cap, in display order.
        total: the overall figures (dimension 'overall') for the total line.
        total_rows: rows the dimension has.
        omitted_rows: rows not shown because of the cap.
        note: a sentence under the heading explaining the order or meaning, or None.
    """

    dimension: str
    title: str
    value_heading: str
    rows: list[CostRow]
    total: CostRow
    total_rows: int
    omitted_rows: int
    note: str | None = None


@dataclass(frozen=True)
class SeatPrice:
    """The per-seat monthly price a plan is compared at.

    Attributes:
        plan: 'p1' or 'p2'.
        monthly_price: per-seat price per server and month (``license_comparison.seat_price_monthly``).
        hourly_price: the plan's hourly price on the latest night, or None when no machine had the plan.
        is_default: True when the seat price is the default (hourly price x 730 h), False when it differs
            (a ``[licensing] seat_prices`` entry), None when it cannot be told.
    """

    plan: str
    monthly_price: float | None
    hourly_price: float | None
    is_default: bool | None


@dataclass(frozen=True)
class ComparisonRow:
    """One ``license_comparison`` row: a plan (or all plans) billed by the hour versus per seat.

    Attributes:
        plan: 'p2', 'p1' or 'all'.
        label: display name, e.g. 'Plan 2' or 'All plans'.
        machines: machines billed this month.
        billable_hours: billable hours this month (central).
        hourly_cost_mtd: hourly-model cost, month to date.
        hourly_cost_projected: hourly-model cost projected to month end.
        seat_price_monthly: per-seat price per server and month, None for the 'all' row.
        per_seat_cost_month: machines x seat price.
        saving: per-seat cost minus projected hourly cost (negative: per seat would be cheaper).
        saving_pct: saving as a percent of the per-seat cost, or None.
        saving_level: 'good' when hourly billing saves money, 'bad' when it costs more, 'none' otherwise.
        is_total: True for the 'all' row.
    """

    plan: str
    label: str
    machines: int
    billable_hours: float
    hourly_cost_mtd: float | None
    hourly_cost_projected: float | None
    seat_price_monthly: float | None
    per_seat_cost_month: float | None
    saving: float | None
    saving_pct: float | None
    saving_level: Level
    is_total: bool


@dataclass(frozen=True)
class Comparison:
    """Per-hour versus per-seat licensing for the month.

    Attributes:
        rows: the plans (Plan 2, Plan 1), then the 'all' row.
        seat_prices: the seat price each plan is compared at.
        all_default: True when every seat price shown is the default (hourly price x 730 h).
    """

    rows: list[ComparisonRow]
    seat_prices: list[SeatPrice]
    all_default: bool


@dataclass(frozen=True)
class GapRow:
    """One ``license_gap`` row: running machines without EDR in one scope and current plan.

    Attributes:
        cloud: 'azure', 'aws' or 'gcp'.
        scope_id: subscription, account or project.
        plan_status: their current plan: 'p2', 'p1', 'off' or 'unknown'.
        machines_without_edr: running machines with no EDR at the latest night.
        added_hourly_cost: Plan 2 price minus their current plan's price, summed, per hour.
        added_cost_30_days: the added cost over 30 days at the machines' daily hours observed this month.
    """

    cloud: str
    scope_id: str
    plan_status: str
    machines_without_edr: int
    added_hourly_cost: float
    added_cost_30_days: float


@dataclass(frozen=True)
class GapSection:
    """Cost to close the EDR gap: every running machine without an EDR under Plan 2.

    Attributes:
        rows: the rows shown, largest added cost first, at most the list cap.
        total_rows: rows in ``license_gap``.
        omitted_rows: rows not shown because of the cap.
        machines: machines without EDR in all rows.
        added_hourly_cost: added cost per hour over all rows.
        added_cost_30_days: added cost over 30 days over all rows.
        machines_on_plan2: of ``machines``, those already on Plan 2 (no added licence cost: they need the
            agent deployed).
    """

    rows: list[GapRow]
    total_rows: int
    omitted_rows: int
    machines: int
    added_hourly_cost: float
    added_cost_30_days: float
    machines_on_plan2: int


@dataclass(frozen=True)
class OverlapRow:
    """One ``license_overlap`` row: Plan 2 machines protected only by third-party EDR products.

    Attributes:
        cloud: 'azure', 'aws' or 'gcp'.
        scope_id: subscription, account or project.
        edr_products: the third-party EDR products protecting them (cloud-provided text).
        machines: machines.
        plan2_hours_mtd: Plan 2 billable hours this month.
        plan2_cost_mtd: Plan 2 cost this month.
        saving_if_plan1_mtd: what the same hours would have saved at the Plan 1 price.
    """

    cloud: str
    scope_id: str
    edr_products: str
    machines: int
    plan2_hours_mtd: float
    plan2_cost_mtd: float
    saving_if_plan1_mtd: float


@dataclass(frozen=True)
class OverlapSection:
    """Plan 2 paid on machines whose only working EDR is a third-party product.

    Attributes:
        rows: the rows shown, largest cost first, at most the list cap.
        total_rows: rows in ``license_overlap``.
        omitted_rows: rows not shown because of the cap.
        machines: machines summed over all rows.
        plan2_hours_mtd: Plan 2 hours this month over all rows.
        plan2_cost_mtd: Plan 2 cost this month over all rows.
        saving_if_plan1_mtd: what Plan 1 would have saved this month over all rows.
    """

    rows: list[OverlapRow]
    total_rows: int
    omitted_rows: int
    machines: int
    plan2_hours_mtd: float
    plan2_cost_mtd: float
    saving_if_plan1_mtd: float


@dataclass(frozen=True)
class PriceRow:
    """An hourly price a plan was costed at during the retained nights (from ``license_hours``).

    Attributes:
        plan: 'p1' or 'p2'.
        hourly_price: price per server-hour.
        first_night: first night costed at that price.
        last_night: last night costed at that price.
    """

    plan: str
    hourly_price: float
    first_night: date
    last_night: date


@dataclass(frozen=True)
class MethodSection:
    """Facts behind the method and uncertainty section.

    Attributes:
        machine_nights: rows of ``license_hours`` (one per machine and night) over the retained nights.
        exact_nights: of which 'exact' (the clouds' timestamps pin the hours down).
        bounded_nights: of which 'bounded' (only a low and a high bound are known).
        exact_pct: share of exact machine-nights (0-100), or None when there is none.
        bounded_pct: share of bounded machine-nights (0-100), or None when there is none.
        bounded_hours_spread: billable hours between the low and high bounds over the bounded machine-nights.
        mtd_spread: month-to-date cost between the low and high bounds.
        first_retained_night: the first night in ``machine_history``, or None.
        first_cost_night: the first night with cost data (the first interval's closing night), or None.
        retained_nights: nights in ``machine_history``.
        prices: the hourly prices used per plan, newest first (capped).
        price_changed: True when a plan was costed at more than one price during the retained nights.
    """

    machine_nights: int
    exact_nights: int
    bounded_nights: int
    exact_pct: float | None
    bounded_pct: float | None
    bounded_hours_spread: float
    mtd_spread: float
    first_retained_night: date | None
    first_cost_night: date | None
    retained_nights: int
    prices: list[PriceRow]
    price_changed: bool


@dataclass(frozen=True)
class LicensingContext:
    """Everything the licensing report template uses; each field is a top-level template variable.

    Attributes:
        title: report title, including the snapshot date.
        snapshot_date: the snapshot the database was built for (``build_info``), else the latest night with
            cost data, or None when the database holds neither.
        generated_at: when the context was built (timezone-aware, UTC).
        list_cap: the maximum number of rows in any one list of the report.
        currency: the currency code of every amount, e.g. 'USD' (empty when unknown).
        has_data: False when ``license_hours`` holds no night yet (the first night has no interval): the
            template says so instead of showing zeros.
        headline: the headline figures, or None without data.
        trend: the daily cost trend.
        breakdowns: cost by cloud, scope, plan, owner and EDR status.
        comparison: per-hour versus per-seat licensing.
        gap: cost to close the EDR gap.
        overlap: Plan 2 on machines protected only by a third-party EDR.
        method: facts for the method and uncertainty section.
    """

    title: str
    snapshot_date: date | None
    generated_at: datetime
    list_cap: int
    currency: str
    has_data: bool
    headline: LicensingHeadline | None
    trend: Trend
    breakdowns: list[CostBreakdown] = field(default_factory=list)
    comparison: Comparison = field(default_factory=lambda: Comparison(rows=[], seat_prices=[], all_default=True))
    gap: GapSection = field(
        default_factory=lambda: GapSection(rows=[], total_rows=0, omitted_rows=0, machines=0,
                                           added_hourly_cost=0.0, added_cost_30_days=0.0, machines_on_plan2=0))
    overlap: OverlapSection = field(
        default_factory=lambda: OverlapSection(rows=[], total_rows=0, omitted_rows=0, machines=0,
                                               plan2_hours_mtd=0.0, plan2_cost_mtd=0.0, saving_if_plan1_mtd=0.0))
    method: MethodSection = field(
        default_factory=lambda: MethodSection(machine_nights=0, exact_nights=0, bounded_nights=0, exact_pct=None,
                                              bounded_pct=None, bounded_hours_spread=0.0, mtd_spread=0.0,
                                              first_retained_night=None, first_cost_night=None,
                                              retained_nights=0, prices=[], price_changed=False))


#: Every dataclass the templates can reach from a :class:`LicensingContext`.
LICENSING_CONTEXT_TYPES: tuple[type, ...] = (
    LicensingContext, LicensingHeadline, Trend, TrendNight, CostBreakdown, CostRow, Comparison, ComparisonRow,
    SeatPrice, GapSection, GapRow, OverlapSection, OverlapRow, MethodSection, PriceRow,
)
