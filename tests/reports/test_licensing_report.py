"""The licensing-cost report rendered from the fixture database: figures, formatting, escaping, email safety."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from coverage_fixture_db import build_fixture_db
from licensing_fixture_db import (
    COSTED_NIGHTS,
    FIRST_NIGHT,
    HTML_OWNER,
    SNAPSHOT,
    add_licensing,
    build_licensing_db,
)

from flows.settings import OutputSettings, Settings
from reports.db import ViewContractError
from reports.licensing import build_licensing_context, render_licensing, write_licensing_report
from reports.publish import write_reports
from reports.render import fmt_hours, fmt_money, fmt_rate


def text_of(page: str) -> str:
    """The visible text: tags removed, entities decoded, whitespace collapsed."""
    page = re.sub(r"<head>.*?</head>", " ", page, flags=re.S)
    page = re.sub(r"</?(strong|em|code|span|b|i)\b[^>]*>", "", page)
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


@pytest.fixture
def lic_db(tmp_path: Path) -> Path:
    return build_licensing_db(tmp_path / "licensing.duckdb")


@pytest.fixture
def lic_con(lic_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(lic_db), read_only=True)
    yield connection
    connection.close()


@pytest.fixture
def context(lic_con: duckdb.DuckDBPyConnection):
    ctx = build_licensing_context(lic_con)
    return replace(ctx, generated_at=datetime(2026, 3, 14, 5, 7, tzinfo=UTC))


@pytest.fixture
def page(context) -> str:
    return render_licensing(context)


# ------------------------------------------------------------------------------------------------ figures


def test_title_has_snapshot_date(context, page: str) -> None:
    assert context.snapshot_date == SNAPSHOT
    title = re.search(r"<title>(.*?)</title>", page, flags=re.S).group(1)
    assert title == "Defender for Servers hourly licensing cost \u2014 2026-03-14"
    assert "generated 2026-03-14 05:07 UTC" in text_of(page)
    assert "amounts in USD" in text_of(page)


def test_headline_figures_computed_by_hand(context) -> None:
    h = context.headline
    assert (h.month_start, h.latest_night, h.days_in_month) == (date(2026, 3, 1), SNAPSHOT, 31)
    assert (h.nights_with_data, h.days_projected, h.run_rate_nights) == (3, 28, 3)
    assert (h.mtd_cost_low, h.mtd_cost, h.mtd_cost_high) == pytest.approx((3.104, 3.144, 3.184))
    assert (h.projected_cost_low, h.projected_cost, h.projected_cost_high) == pytest.approx(
        (32.0747, 32.488, 32.9013))
    assert (h.day_cost_low, h.day_cost, h.day_cost_high) == pytest.approx((0.848, 0.888, 0.928))
    assert (h.day_machines, h.mtd_machines, h.day_hours, h.mtd_hours) == (3, 3, 60, 204)
    assert h.run_rate == pytest.approx(1.048)  # (32.488 - 3.144) / 28
    assert context.currency == "USD"


def test_headline_rendered_with_currency_and_range(page: str) -> None:
    text = text_of(page)
    assert "Defender for Servers cost, March 2026" in text
    assert "Projected month end USD 32.49 range USD 32.07 \u2013 USD 32.90" in text
    assert "Month to date USD 3.14 3 nights, 204 billable hours" in text
    assert "Latest night, 2026-03-14 USD 0.89 60 billable hours" in text
    assert "Machines billed 3 latest night; 3 this month" in text
    assert "Currency USD" in text
    assert ("for each of the 28 nights of March 2026 without data (those still to come and any before the "
            "history began), the average daily cost of the last 3 nights (USD 1.05 a night)") in text


def test_trend_has_one_bar_per_night(context, page: str) -> None:
    nights = context.trend.nights
    assert [n.night for n in nights] == COSTED_NIGHTS
    assert [n.cost for n in nights] == pytest.approx([1.128, 1.128, 0.888])
    assert page.count('class="lic-bar"') == len(COSTED_NIGHTS)
    # Bars are table cells with pixel widths: the highest night (1.128) fills 360 px; the last night is
    # 0.848 low (271 px dark), up to 0.928 high (25 px pale), then 64 px of track.
    assert (nights[0].low_px, nights[0].range_px, nights[0].track_px) == (360, 0, 0)
    assert (nights[2].low_px, nights[2].range_px, nights[2].track_px) == (271, 25, 64)
    assert re.search(r'<td width="271" height="12" bgcolor="#1f4e79"[^>]*>&nbsp;</td>\s*'
                     r'<td width="25" height="12" bgcolor="#9dbbd8"[^>]*>&nbsp;</td>\s*'
                     r'<td width="64" height="12" bgcolor="#e5e7eb"', page)
    text = text_of(page)
    assert "2026-03-12 USD 1.13 exact 3 72" in text
    assert "2026-03-14 USD 0.89 0.85 \u2013 0.93 3 60" in text
    assert "<svg" not in page.lower() and "<img" not in page.lower()


def test_breakdowns_by_cloud_scope_plan_owner_status(context, page: str) -> None:
    assert [b.dimension for b in context.breakdowns] == ["cloud", "scope", "plan", "owner", "edr_status"]
    by = {b.dimension: b for b in context.breakdowns}
    assert [r.label for r in by["cloud"].rows] == ["Azure", "AWS", "Google Cloud"]
    assert [r.label for r in by["scope"].rows] == ["sub-aaa", "proj-alpha", "111122223333", "sub-bbb"]
    assert by["scope"].rows[2].detail == "AWS account"
    assert [r.label for r in by["plan"].rows] == ["Plan 2", "Plan 1", "Off"]
    assert [r.label for r in by["owner"].rows] == ["team-web", "(no owner tag)", HTML_OWNER, "team-db"]
    assert [r.label for r in by["edr_status"].rows] == ["Protected", "Unhealthy", "Not installed"]
    azure = by["cloud"].rows[0]
    assert (azure.machines, azure.mtd_hours, azure.mtd_cost, azure.projected_cost) == (1, 72, 1.44, 14.88)
    assert azure.share_pct == pytest.approx(100 * 14.88 / 32.488)
    text = text_of(page)
    for title in ("By cloud", "By scope (subscription, account, project)", "By Defender for Servers plan",
                  "By owner tag", "By EDR status"):
        assert title in text
    assert "Google Cloud 1 60 USD 0.24 USD 1.20 USD 12.40 11.99 \u2013 12.81 38.2%" in text
    assert "Total 3 204 USD 0.89 USD 3.14 USD 32.49 32.07 \u2013 32.90" in text


def test_per_hour_versus_per_seat(context, page: str) -> None:
    rows = {r.plan: r for r in context.comparison.rows}
    assert list(rows) == ["p2", "p1", "all"]
    assert (rows["p2"].saving, rows["p2"].saving_level) == (1.92, "good")
    assert (rows["p1"].saving, rows["p1"].saving_level) == (-0.1, "bad")
    assert rows["all"].seat_price_monthly is None and rows["all"].is_total
    assert context.comparison.all_default
    text = text_of(page)
    assert "Per hour versus per seat" in text
    assert ("per seat at Plan 2 USD 14.60 and Plan 1 USD 5.11 per server and month (the default assumption: "
            "the hourly list price \u00d7 730 hours, a server that never stops") in text
    assert "a positive saving means paying by the hour is cheaper" in text
    assert "Plan 2 2 132 USD 2.64 USD 27.28 USD 14.60 USD 29.20 USD 1.92 6.6%" in text
    assert "Plan 1 1 72 USD 0.50 USD 5.21 USD 5.11 USD 5.11 \u2212USD 0.10 -1.9%" in text
    assert "All plans 3 204 USD 3.14 USD 32.49 USD 34.31 USD 1.82 5.3%" in text


def test_seat_price_from_config_is_named(lic_db: Path) -> None:
    with duckdb.connect(str(lic_db)) as con:
        con.execute("update raw_license_comparison set seat_price_monthly = 6.0 where plan = 'p1'")
    with duckdb.connect(str(lic_db), read_only=True) as con:
        ctx = build_licensing_context(con)
    seats = {s.plan: s.is_default for s in ctx.comparison.seat_prices}
    assert seats == {"p2": True, "p1": False}
    text = text_of(render_licensing(ctx))
    assert "Plan 1 USD 6.00 per server and month (from [licensing] seat_prices; Plan 2 at the default" in text


def test_cost_to_close_the_gap(context, page: str) -> None:
    gap = context.gap
    assert (gap.machines, gap.machines_on_plan2) == (2, 0)
    assert gap.added_hourly_cost == pytest.approx(0.033)
    assert gap.added_cost_30_days == pytest.approx(23.76)
    assert [r.scope_id for r in gap.rows] == ["sub-aaa", "111122223333"]  # largest 30-day cost first
    text = text_of(page)
    assert "Cost to close the gap" in text
    assert "2 running machines had no EDR at the latest night" in text
    assert "adds USD 0.033 per hour, about USD 23.76 over 30 days" in text
    assert "AWS 111122223333 Plan 1 1 USD 0.013 USD 9.36" in text
    assert "Total 2 USD 0.033 USD 23.76" in text


def test_overlap_plan2_on_third_party_edr(context, page: str) -> None:
    overlap = context.overlap
    assert (overlap.machines, overlap.plan2_hours_mtd, overlap.plan2_cost_mtd, overlap.saving_if_plan1_mtd) == (
        1, 60, 1.2, 0.78)
    text = text_of(page)
    assert "this month 60 Plan 2 hours cost USD 1.20, and Plan 1 for the same hours would have saved USD 0.78" in text
    assert "Google Cloud proj-alpha CrowdStrike Falcon 1 60 USD 1.20 USD 0.78" in text


def test_method_and_uncertainty(context, page: str) -> None:
    m = context.method
    assert (m.machine_nights, m.exact_nights, m.bounded_nights) == (15, 14, 1)
    assert m.bounded_hours_spread == 4
    assert m.mtd_spread == pytest.approx(0.08)
    assert (m.first_retained_night, m.first_cost_night, m.retained_nights) == (FIRST_NIGHT, COSTED_NIGHTS[0], 4)
    assert [(p.plan, p.hourly_price) for p in m.prices] == [("p2", 0.02), ("p1", 0.007)]
    assert not m.price_changed
    text = text_of(page)
    assert "Method and uncertainty" in text
    assert "Of the 15 machine-nights retained, 14 (93.3%) were exact and 1 (6.7%) bounded" in text
    assert "The headline and the tables use the central estimate" in text
    assert ("Azure VMs are billed while Running, Stopping or Stopped but still allocated, not while Deallocated, "
            "Starting or Deallocating; Azure Arc-enabled servers while Connected") in text
    assert "The first retained night, 2026-03-11, has no interval before it" in text
    assert "the price book with its effective dates, where [licensing] prices override or add to it" in text
    assert "Plan 2 USD 0.02 per server-hour (2026-03-12 to 2026-03-14)" in text
    assert "Plan 1 USD 0.007 per server-hour" in text


def test_price_change_is_reported(lic_db: Path) -> None:
    with duckdb.connect(str(lic_db)) as con:
        con.execute("update raw_license_hours set hourly_price = 0.018 "
                    "where plan_status = 'p2' and snapshot_date = '2026-03-12'")
    with duckdb.connect(str(lic_db), read_only=True) as con:
        ctx = build_licensing_context(con)
    assert ctx.method.price_changed
    assert [(p.plan, p.hourly_price) for p in ctx.method.prices] == [("p2", 0.02), ("p2", 0.018), ("p1", 0.007)]
    assert "A price changed during the retained nights." in text_of(render_licensing(ctx))


# ---------------------------------------------------------------------------------------------- safety


def test_owner_tag_is_escaped(page: str) -> None:
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert HTML_OWNER not in page


def test_no_javascript_or_external_assets(page: str) -> None:
    lowered = page.lower()
    assert "<script" not in lowered
    assert not re.search(r"""\b(src|href|background|action)\s*=\s*["']?\s*(https?:)?//""", lowered)
    assert "http://" not in lowered and "https://" not in lowered
    assert "<link" not in lowered and "@import" not in lowered and "url(" not in lowered
    assert "@font-face" not in lowered
    assert not re.search(r"\son[a-z]+\s*=", lowered)
    assert "javascript:" not in lowered


def test_all_css_is_inlined_in_a_table_layout(page: str) -> None:
    assert "<style" not in page.lower()
    assert page.lower().startswith("<!doctype html>")
    assert 'role="presentation"' in page
    assert re.search(r'class="lic-hero-num" style="[^"]*font-size:34px', page)
    assert re.search(r'<td class="n lic-money" style="[^"]*text-align:right', page)


# ------------------------------------------------------------------------------------------------- caps


def test_cap_lines_name_the_view(lic_con: duckdb.DuckDBPyConnection) -> None:
    ctx = build_licensing_context(lic_con, list_cap=1)
    text = text_of(render_licensing(ctx))
    assert "and 3 more \u2014 full list in the database view license_cost_summary" in text  # 4 scopes, 1 shown
    assert "and 1 more \u2014 full list in the database view license_gap" in text
    assert "and 2 earlier nights \u2014 full list in the database view license_cost_daily" in text
    assert [n.night for n in ctx.trend.nights] == [SNAPSHOT]  # the most recent nights are kept


def test_no_cap_line_when_everything_fits(page: str) -> None:
    assert "full list in the database view" not in text_of(page)


# ------------------------------------------------------------------------------------------- no data yet


def test_first_night_says_there_is_no_cost_yet(tmp_path: Path) -> None:
    db = build_licensing_db(tmp_path / "first.duckdb", costed=False)
    with duckdb.connect(str(db), read_only=True) as con:
        ctx = build_licensing_context(con)
    assert not ctx.has_data and ctx.headline is None and ctx.snapshot_date == FIRST_NIGHT
    page = render_licensing(ctx)
    text = text_of(page)
    assert "No licensing cost yet." in text
    assert "the database holds only the first night (2026-03-11)" in text
    assert "USD 0.00" not in text and "Projected month end" not in text and "machine-nights" not in text
    # The gap does not need an interval: it is shown, at 24 hours a day.
    assert "Cost to close the gap" in text and "USD 23.76" in text
    assert "<style" not in page.lower()


def test_empty_database_renders_a_notice(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    with duckdb.connect(str(db)) as con:
        from licensing_fixture_db import create_schema

        create_schema(con)
    with duckdb.connect(str(db), read_only=True) as con:
        ctx = build_licensing_context(con)
    assert not ctx.has_data and ctx.snapshot_date is None and ctx.currency == ""
    text = text_of(render_licensing(ctx))
    assert "No licensing cost yet." in text and "the database holds no night yet" in text
    assert "Cost to close the gap" not in text


def test_missing_view_is_reported_by_name(lic_db: Path) -> None:
    with duckdb.connect(str(lic_db)) as con:
        con.execute("drop view license_overlap")
        con.execute("create or replace view license_cost_summary as select * exclude (cost_high) "
                    "from raw_license_cost_summary")
    with duckdb.connect(str(lic_db), read_only=True) as con, pytest.raises(ViewContractError) as raised:
        build_licensing_context(con)
    assert "'license_overlap' is missing" in str(raised.value)
    assert "'license_cost_summary' lacks column(s) cost_high" in str(raised.value)


# ------------------------------------------------------------------------------------------------ writing


def test_write_licensing_report(lic_db: Path, tmp_path: Path) -> None:
    out = write_licensing_report(lic_db, tmp_path / "out" / "nested")
    assert out == tmp_path / "out" / "nested" / "licensing.html"
    assert "USD 32.49" in out.read_text(encoding="utf-8")
    assert [p.name for p in out.parent.iterdir()] == ["licensing.html"]  # no temporary file left behind
    with duckdb.connect(str(lic_db)) as con:  # opened read-only: a writer can open it afterwards
        assert con.execute("select count(*) from license_hours").fetchall()[0][0] == 15


def test_publish_writes_both_reports(tmp_path: Path) -> None:
    settings = Settings(output=OutputSettings(data_dir=tmp_path / "data"))
    settings.output.data_dir.mkdir()
    db = build_fixture_db(settings.output.database_path)
    with duckdb.connect(str(db)) as con:
        add_licensing(con)
    paths = write_reports(settings, SNAPSHOT)
    folder = tmp_path / "data" / "reports" / "2026-03-14"
    assert paths == {"coverage": folder / "coverage.html", "licensing": folder / "licensing.html"}
    assert "USD 32.49" in paths["licensing"].read_text(encoding="utf-8")
    assert "54.5%" in paths["coverage"].read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------ filters


@pytest.mark.parametrize(("value", "currency", "expected"), [
    (4468.2, "USD", "USD 4,468.20"), (1234567.891, "EUR", "EUR 1,234,567.89"), (0, "USD", "USD 0.00"),
    (-12, "USD", "\u2212USD 12.00"), (-0.001, "USD", "USD 0.00"), (3.5, None, "3.50"), (None, "USD", "\u2014"),
])
def test_money_format(value, currency, expected) -> None:
    assert fmt_money(value, currency) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (0.007, "USD 0.007"), (0.02, "USD 0.02"), (0.078, "USD 0.078"), (0.12345, "USD 0.1235"), (1234.5, "USD 1,234.50"),
])
def test_rate_format(value, expected) -> None:
    assert fmt_rate(value, "USD") == expected


@pytest.mark.parametrize(("value", "expected"), [
    (58488.0, "58,488"), (1234.56, "1,235"), (24.0, "24"), (10.5, "10.5"), (0, "0"), (None, "\u2014"),
])
def test_hours_format(value, expected) -> None:
    assert fmt_hours(value) == expected
