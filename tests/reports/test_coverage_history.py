"""The history sections of the coverage report: what changed since the previous night (at the top), the
coverage trend and the time to protect new machines, checked against values computed by hand in
``coverage_fixture_db``."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from coverage_fixture_db import (
    GONE_NAME,
    OK_RUNS,
    PREVIOUS,
    SCRIPT_NAME,
    SNAPSHOT,
    TREND_EXPECTED,
    TREND_TONIGHT_BY_CLOUD,
    build_fixture_db,
)
from test_coverage_report import text_of

from reports.coverage import TREND_BAR_PX, build_coverage_context, render_coverage
from reports.db import ViewContractError

CHANGES_TITLE = "What changed since the previous night"
GROUP_TITLES = ("Newly unprotected", "Exemptions expiring", "New machines", "Machines gone", "Newly protected")


@pytest.fixture
def context(con: duckdb.DuckDBPyConnection):
    return replace(build_coverage_context(con), generated_at=datetime(2026, 3, 15, 5, 7, tzinfo=UTC))


@pytest.fixture
def page(context) -> str:
    return render_coverage(context)


def changes_html(page: str) -> str:
    """The HTML of the changes section: from its heading to the headline's."""
    start, end = page.index(CHANGES_TITLE), page.index("Coverage of running machines")
    assert start < end
    return page[start:end]


def build(tmp_path: Path, **kwargs) -> tuple:
    db = build_fixture_db(tmp_path / "history.duckdb", **kwargs)
    with duckdb.connect(str(db), read_only=True) as con:
        ctx = build_coverage_context(con)
    return ctx, render_coverage(ctx)


# ----------------------------------------------------------------------------------------------- changes


def test_changes_counts_per_type_in_display_order(context) -> None:
    changes = context.changes
    assert changes.previous_night == PREVIOUS and changes.days_between == 1
    assert [(g.change_type, g.count) for g in changes.groups] == [
        ("newly_unprotected", 3), ("exemption_expiring", 1), ("new_machine", 2), ("machine_gone", 1),
        ("newly_protected", 2)]
    assert changes.total == 9  # the stale row of an older night is not counted
    assert [g.title for g in changes.groups] == list(GROUP_TITLES)


def test_changes_lists_content_and_order(context, page: str) -> None:
    groups = {g.change_type: g for g in context.changes.groups}
    # Worst current verdict first (not installed before unhealthy), then cloud, scope, name.
    assert [m.machine_name for m in groups["newly_unprotected"].machines] == [
        SCRIPT_NAME, "i-0bbb03", "gce-api-01"]
    first = groups["newly_unprotected"].machines[0]
    assert (first.previous_status, first.current_status, first.previous_level, first.current_level) == (
        "protected", "not_installed", "good", "bad")
    # New machines without EDR first.
    assert [m.machine_name for m in groups["new_machine"].machines] == ["i-0bbb05", "az-web-03"]
    assert [m.machine_name for m in groups["newly_protected"].machines] == ["az-web-01", "gce-web-02"]
    gone = groups["machine_gone"].machines[0]
    assert (gone.machine_name, gone.owner, gone.current_status) == (GONE_NAME, "team-legacy", None)
    assert all(g.omitted == 0 for g in context.changes.groups)

    text = text_of(changes_html(page))
    assert "Tonight (2026-03-14) compared with the previous night, 2026-03-13." in text
    assert "days earlier" not in text
    for count, title in zip((3, 1, 2, 1, 2), GROUP_TITLES, strict=True):
        assert f"{count} {title}" in text  # the tiles
        assert f"{title} ({count})" in text  # the list headings
    positions = [text.index(f"{title} (") for title in GROUP_TITLES]
    assert positions == sorted(positions), "lists not in the order: unprotected, expiring, new, gone, protected"
    assert "i-0bbb03 AWS 444455556666 team-platform Exempt \u2192 Not installed no_edr_in_inventory" in text
    assert "gce-api-01 Google Cloud proj-alpha team-platform Protected \u2192 Unhealthy mde_onboarding_failed" \
        in text
    assert "az-sql-01 Azure sub-bbb team-platform Exempt exemption expires 2026-03-20" in text
    assert f"{GONE_NAME} Azure sub-aaa team-legacy Protected \u2192 not listed" in text
    assert "stale-change-vm" not in page


def test_changes_escape_machine_names(page: str) -> None:
    section = changes_html(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert SCRIPT_NAME not in page and "<script" not in page.lower()
    assert re.search(r"<td\b[^>]*>&lt;script&gt;alert\(1\)&lt;/script&gt;</td>", section)


def test_changes_section_is_at_the_top(page: str) -> None:
    text = text_of(page)
    order = [text.index(t) for t in (
        "EDR coverage report \u2014 2026-03-14",  # the header
        "Incomplete data: 1 extract failed",  # the warning banner qualifies every figure, the changes too
        CHANGES_TITLE,
        "Coverage of running machines",
        "Coverage, night by night",
        "Time to protect new machines",
        "By scope (subscription, account, project)",
        "Machines not running",
        "Open recommendations",
    )]
    assert order == sorted(order)
    # The changes are the first section after the header and the extraction notices.
    sections = re.findall(r'<td class="(section|cov-top)"', page)
    assert sections[0] == "cov-top"
    # One plain <body> tag for the mail code to insert its charts after.
    assert len(re.findall(r"<body\b[^>]*>", page)) == 1


def test_failed_extracts_qualify_the_machines_gone(page: str, tmp_path: Path) -> None:
    note = "Some extracts failed tonight (see the warning above)"
    assert note in text_of(changes_html(page))
    _, ok_page = build(tmp_path, runs=OK_RUNS)
    assert note not in ok_page and f"{GONE_NAME}" in ok_page


def test_changes_are_capped(con: duckdb.DuckDBPyConnection) -> None:
    ctx = build_coverage_context(con, list_cap=1)
    groups = {g.change_type: g for g in ctx.changes.groups}
    assert all(len(g.machines) <= 1 for g in ctx.changes.groups)
    assert (groups["newly_unprotected"].count, groups["newly_unprotected"].omitted) == (3, 2)
    assert groups["newly_unprotected"].machines[0].machine_name == SCRIPT_NAME  # the worst one is kept
    text = text_of(changes_html(render_coverage(ctx)))
    assert "and 2 more \u2014 full list in the database view coverage_changes" in text  # unprotected
    assert "and 1 more \u2014 full list in the database view coverage_changes" in text  # new, protected


def test_no_previous_night_yet(tmp_path: Path) -> None:
    ctx, page = build(tmp_path, first_night=True)
    assert ctx.changes.previous_night is None and ctx.changes.days_between is None
    text = text_of(changes_html(page))
    assert ("No previous night yet: 2026-03-14 is the first night in the database, so there is nothing to "
            "compare with.") in text
    # Expiring exemptions need no previous night: still listed; nothing else is.
    assert "Exemptions expiring (1)" in text and "az-sql-01" in text
    for title in ("Newly unprotected", "New machines", "Machines gone", "Newly protected", "compared with"):
        assert title not in text
    # One night of trend, and no time to protect yet.
    assert [n.night for n in ctx.trend.nights] == [SNAPSHOT]
    assert ctx.trend.change_previous is None and ctx.trend.change_window is None
    full = text_of(page)
    assert "since the night before" not in full
    assert "Time to protect needs at least two nights: the database holds only 2026-03-14 so far." in full


def test_nothing_changed(fixture_db: Path) -> None:
    with duckdb.connect(str(fixture_db)) as con:
        con.execute("delete from raw_coverage_changes")
    with duckdb.connect(str(fixture_db), read_only=True) as con:
        ctx = build_coverage_context(con)
    assert ctx.changes.previous_night == PREVIOUS and ctx.changes.total == 0  # found in coverage_daily
    text = text_of(changes_html(render_coverage(ctx)))
    assert "Nothing changed since 2026-03-13" in text
    assert "Newly unprotected (" not in text


def test_missed_nights_are_named(fixture_db: Path) -> None:
    with duckdb.connect(str(fixture_db)) as con:
        con.execute("update raw_coverage_changes set previous_night = date '2026-03-12' "
                    "where snapshot_date = date '2026-03-14'")
    with duckdb.connect(str(fixture_db), read_only=True) as con:
        ctx = build_coverage_context(con)
    assert ctx.changes.days_between == 2
    assert ("compared with the previous night, 2026-03-12 (2 days earlier: the nights in between are "
            "missing).") in text_of(render_coverage(ctx))


# ------------------------------------------------------------------------------------------------- trend


def test_trend_computed_by_hand(context) -> None:
    trend = context.trend
    assert [(n.night, n.protected, n.assessable, n.coverage_pct) for n in trend.nights] == TREND_EXPECTED
    assert (trend.total_nights, trend.omitted_nights) == (5, 0)
    assert trend.clouds == ["azure", "aws", "gcp"]
    tonight = trend.nights[-1]
    assert {c.cloud: (c.protected, c.assessable) for c in tonight.by_cloud} == TREND_TONIGHT_BY_CLOUD
    assert [c.coverage_pct for c in tonight.by_cloud] == [100.0, 40.0, 33.33]
    assert [c.coverage_level for c in tonight.by_cloud] == ["good", "bad", "bad"]
    # The trend's latest night is the headline figure.
    assert tonight.coverage_pct == pytest.approx(context.headline.coverage_pct)
    # 54.5 - 50.0 and 54.5 - 30.0, as shown.
    assert (trend.change_previous, trend.change_window) == (4.5, 24.5)
    assert [(n.fill_px, n.track_px) for n in trend.nights] == [
        (90, 210), (120, 180), (120, 180), (150, 150), (164, 136)]
    assert all(n.fill_px + n.track_px == TREND_BAR_PX for n in trend.nights)


def test_trend_is_drawn_with_table_cells(page: str) -> None:
    text = text_of(page)
    assert ("Latest night 2026-03-14: 54.5% (6 of 11), +4.5 points since the night before, +24.5 points "
            "over the 5 nights shown.") in text
    assert "2026-03-10 30.0% 3 / 10 25.0% 50.0% 0.0%" in text
    assert "2026-03-14 54.5% 6 / 11 100.0% 40.0% 33.3%" in text
    assert "By cloud Night Coverage Protected / need EDR Azure AWS Google Cloud" in text
    # 30 % of 300 px: a red 90 px cell and a grey 210 px track; tonight 164 + 136.
    assert re.search(r'<td width="90" height="12" bgcolor="#c62828"[^>]*>&nbsp;</td>\s*'
                     r'<td width="210" height="12" bgcolor="#e5e7eb"', page)
    assert re.search(r'<td width="164" height="12" bgcolor="#c62828"[^>]*>&nbsp;</td>\s*'
                     r'<td width="136" height="12" bgcolor="#e5e7eb"', page)
    assert "<svg" not in page.lower() and "<img" not in page.lower()


def test_trend_is_capped(con: duckdb.DuckDBPyConnection) -> None:
    ctx = build_coverage_context(con, list_cap=2)
    assert [n.night for n in ctx.trend.nights] == [PREVIOUS, SNAPSHOT]  # the most recent ones
    assert ctx.trend.omitted_nights == 3
    assert ctx.trend.change_previous == 4.5 and ctx.trend.change_window is None
    text = text_of(render_coverage(ctx))
    assert "and 3 earlier nights \u2014 full list in the database view coverage_daily" in text


def test_trend_ignores_nights_after_the_snapshot(fixture_db: Path) -> None:
    with duckdb.connect(str(fixture_db)) as con:
        con.execute("insert into raw_coverage_daily values (date '2026-03-15', 'aws', 'x', 'linux', "
                    "9, 9, 0, 0, 9, 0, 0, 0, 0.0)")
    with duckdb.connect(str(fixture_db), read_only=True) as con:
        ctx = build_coverage_context(con)
    assert ctx.trend.nights[-1].night == SNAPSHOT and ctx.trend.total_nights == 5


# --------------------------------------------------------------------------------------- time to protect


def test_time_to_protect_computed_by_hand(context, page: str) -> None:
    t = context.time_to_protect
    assert (t.first_night, t.nights) == (date(2026, 3, 10), 5)
    # Protected after 0, 3, 1 and 2 days; still unprotected for 3 and 0 days; one gone unprotected.
    assert (t.new_machines, t.protected, t.median_days, t.max_days) == (7, 4, 1.5, 3)
    assert (t.still_unprotected, t.median_days_unprotected, t.max_days_unprotected) == (2, 1.5, 3)
    assert t.gone_unprotected == 1
    assert [(m.machine_name, m.days_unprotected, m.edr_status) for m in t.machines] == [
        ("gce-batch-01", 3, "unknown"), ("i-0bbb05", 0, "not_installed")]
    text = text_of(page)
    assert "Machines first seen after 2026-03-10, the first of the 5 retained nights" in text
    assert ("4 of 7 new machines got a working EDR, after a median of 1.5 days (at most 3 days). 2 are still "
            "unprotected, for a median of 1.5 days so far (the longest 3 days). 1 disappeared before being "
            "protected.") in text
    assert "gce-batch-01 Google Cloud proj-alpha 2026-03-11 3 Unknown" in text
    assert "tmp-build" not in page  # gone: counted, not listed


def test_time_to_protect_is_capped(con: duckdb.DuckDBPyConnection) -> None:
    ctx = build_coverage_context(con, list_cap=1)
    assert [m.machine_name for m in ctx.time_to_protect.machines] == ["gce-batch-01"]
    assert ctx.time_to_protect.omitted == 1
    assert "and 1 more \u2014 full list in the database view time_to_protect" in text_of(render_coverage(ctx))


# ------------------------------------------------------------------------------------------ view contract


def test_missing_history_view_is_reported_by_name(fixture_db: Path) -> None:
    with duckdb.connect(str(fixture_db)) as con:
        con.execute("drop view coverage_daily")
        con.execute("create or replace view coverage_changes as select * exclude (previous_night) "
                    "from raw_coverage_changes")
    with duckdb.connect(str(fixture_db), read_only=True) as con, pytest.raises(ViewContractError) as raised:
        build_coverage_context(con)
    assert "'coverage_daily' is missing" in str(raised.value)
    assert "'coverage_changes' lacks column(s) previous_night" in str(raised.value)


def test_history_views_hold_exactly_the_documented_columns(con: duckdb.DuckDBPyConnection) -> None:
    import yaml

    schema = yaml.safe_load((Path(__file__).parents[2] / "sql" / "schema.yml").read_text(encoding="utf-8"))
    models = schema["models"]
    for view in ("coverage_changes", "coverage_daily", "time_to_protect"):
        documented = list(models[f"marts.{view}"]["columns"])
        present = [r[0] for r in con.execute(f"describe {view}").fetchall()]
        assert present == documented, view
