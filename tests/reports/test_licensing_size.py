"""A large estate and a long history: every list of the licensing report is capped, the page stays < 2 MB."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from licensing_fixture_db import create_schema

from reports.licensing import (
    MAX_HTML_BYTES,
    MAX_TREND_NIGHTS,
    build_licensing_context,
    render_licensing,
    write_licensing_report,
)

MACHINES, NIGHTS, SCOPES, OWNERS, GAP_ROWS, OVERLAP_ROWS = 40_000, 120, 2_500, 5_000, 3_000, 3_000
LATEST = "date '2026-03-14'"
DIMENSION_VALUES = f"""
    select 'overall' as dimension, 'all machines' as value, 123456.789 as mtd, 456789.01 as projected
    union all select 'cloud', c, 40000 + i, 150000 + i from (values ('azure', 1), ('aws', 2), ('gcp', 3)) t(c, i)
    union all select 'plan', p, 60000 + i, 220000 + i from (values ('p2', 1), ('p1', 2), ('off', 3)) t(p, i)
    union all select 'edr_status', s, 20000 + i, 70000 + i
        from (values ('protected', 1), ('not_installed', 2), ('unknown', 3)) t(s, i)
    union all select 'scope', ['azure', 'aws', 'gcp'][i % 3 + 1] || ' scope-' || i || '-<script>', 40 + i % 97,
        150 + i % 97 from range({SCOPES}) t(i)
    union all select 'owner', 'owner-' || i || '-<b>&amp;', 20 + i % 89, 80 + i % 89 from range({OWNERS}) t(i)
"""


def build_large_db(path: Path) -> Path:
    con = duckdb.connect(str(path))
    try:
        create_schema(con)
        con.execute("insert into build_info values (date '2026-03-14', now(), 7)")
        con.execute(f"""
            insert into raw_license_hours (machine_key, snapshot_date, cloud, scope_id, plan_status,
                running_hours_low, running_hours_central, running_hours_high, estimate_method, billable_hours,
                hourly_price, currency, cost_low, cost, cost_high)
            select 'k' || i, {LATEST}, 'aws', 'scope-' || (i % {SCOPES}), 'p2', 20, 22, 24,
                case when i % 10 = 0 then 'bounded' else 'exact' end, 22, 0.02, 'USD', 0.4, 0.44, 0.48
            from range({MACHINES}) t(i)""")
        con.execute(f"""
            insert into raw_machine_history (machine_key, snapshot_date)
            select 'k' || (i % 1000), {LATEST} - cast(i // 1000 as integer) from range({1000 * (NIGHTS + 1)}) t(i)""")
        con.execute(f"""
            insert into raw_license_cost_daily
            select {LATEST} - cast(n as integer), c, p, 5000, 120000.0, 2300.5 + n, 2400.25 + n, 2500.75 + n, 'USD'
            from range({NIGHTS}) t(n), (values ('azure'), ('aws'), ('gcp')) c(c), (values ('p1'), ('p2')) p(p)""")
        con.execute(f"""
            insert into raw_license_cost_summary
            select period, dimension, value, case when period = 'day' then {LATEST} else date '2026-03-01' end,
                1234, case when period <> 'projected_month_end' then 98765.4 end,
                case period when 'day' then 4000.1 when 'month_to_date' then mtd - 100 else projected - 6789 end,
                case period when 'day' then 4100.2 when 'month_to_date' then mtd else projected end,
                case period when 'day' then 4200.3 when 'month_to_date' then mtd + 100 else projected + 3210.99 end,
                'USD'
            from ({DIMENSION_VALUES}), (values ('day'), ('month_to_date'), ('projected_month_end')) p(period)""")
        con.execute("""
            insert into raw_license_comparison values
            ('p2', 30000, 9000000, 90000, 400000, 14.6, 438000, 38000, 8.7, 'USD'),
            ('p1', 10000, 3000000, 30000, 56789.01, 5.11, 51100, -5689.01, -11.1, 'USD'),
            ('all', 40000, 12000000, 120000, 456789.01, null, 489100, 32310.99, 6.6, 'USD')""")
        con.execute(f"""
            insert into raw_license_gap
            select ['azure', 'aws', 'gcp'][i % 3 + 1], 'gap-scope-' || i || '-<i>', ['p1', 'off', 'p2'][i % 3 + 1],
                1 + i % 50, 0.013 * (1 + i % 50), 9.36 * (1 + i % 50), 'USD'
            from range({GAP_ROWS}) t(i)""")
        con.execute(f"""
            insert into raw_license_overlap
            select 'aws', 'overlap-scope-' || i, repeat('CrowdStrike Falcon <x>, ', 12) || i, 1 + i % 7,
                144.0 * (1 + i % 7), 2.88 * (1 + i % 7), 1.87 * (1 + i % 7), 'USD'
            from range({OVERLAP_ROWS}) t(i)""")
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def large_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_large_db(tmp_path_factory.mktemp("large-licensing") / "large.duckdb")


def test_large_estate_is_capped_and_small(large_db: Path) -> None:
    with duckdb.connect(str(large_db), read_only=True) as con:
        ctx = build_licensing_context(con)
    page = render_licensing(ctx)
    size = len(page.encode("utf-8"))
    assert size < MAX_HTML_BYTES, f"{size:,} bytes"
    # Thousands separators with the currency code.
    assert "USD 456,789.01" in page and "USD 450,000.01" in page and "USD 460,000.00" in page
    assert "USD 123,456.79" in page
    assert "98,765 billable hours" in page
    # The trend keeps the most recent nights, one bar each.
    assert len(ctx.trend.nights) == MAX_TREND_NIGHTS and ctx.trend.total_nights == NIGHTS
    assert page.count('class="lic-bar"') == MAX_TREND_NIGHTS
    assert f"and {NIGHTS - MAX_TREND_NIGHTS} earlier nights" in page
    by = {b.dimension: b for b in ctx.breakdowns}
    assert len(by["scope"].rows) == 200 and by["scope"].omitted_rows == SCOPES - 200
    assert len(by["owner"].rows) == 200 and by["owner"].omitted_rows == OWNERS - 200
    assert f"and {SCOPES - 200:,} more" in page and f"and {OWNERS - 200:,} more" in page
    assert len(ctx.gap.rows) == 200 and f"and {GAP_ROWS - 200:,} more" in page
    assert len(ctx.overlap.rows) == 200 and f"and {OVERLAP_ROWS - 200:,} more" in page
    assert ctx.method.machine_nights == MACHINES and ctx.method.bounded_nights == MACHINES // 10
    assert "Of the 40,000 machine-nights retained, 36,000 (90.0%) were exact" in page
    assert "<script" not in page and "<b>" not in page and "<i>" not in page and "<x>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;&amp;amp;" in page
    assert not re.search(r"<style", page, flags=re.I)


def test_write_shrinks_caps_to_stay_under_limit(large_db: Path, tmp_path: Path) -> None:
    out = write_licensing_report(large_db, tmp_path, list_cap=5_000)
    assert out.stat().st_size < MAX_HTML_BYTES
