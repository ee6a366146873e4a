"""A large estate: every list is capped and the page stays under 2 MB."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from coverage_fixture_db import COVERAGE_SUMMARY_SQL, create_schema
from test_coverage_report import text_of

from reports.coverage import (
    CHANGE_TYPES,
    MAX_BANNER_ITEMS,
    MAX_HTML_BYTES,
    MAX_RECOMMENDATION_GROUPS,
    MAX_TREND_NIGHTS,
    MAX_UNPROTECTED_NEW,
    build_coverage_context,
    render_coverage,
    write_coverage_report,
)

MACHINES, SCOPES, RECOMMENDATION_TEXTS, FAILED_EXTRACTS = 40_000, 2_500, 45, 1_500
#: Six months of retained nights, and the rows of the history views.
NIGHTS, DAILY_SCOPES, CHANGES, NEW_UNPROTECTED = 183, 300, 40_000, 10_000
STATUSES = "['protected', 'unhealthy', 'not_installed', 'unknown', 'exempt', 'not_applicable']"


def build_large_db(path: Path) -> Path:
    con = duckdb.connect(str(path))
    try:
        create_schema(con)
        con.execute(f"""
            insert into raw_machine_edr_status
            select 'k' || i, ['azure', 'aws', 'gcp'][i % {SCOPES} % 3 + 1], 'scope-' || (i % {SCOPES}),
                   'machine-with-a-fairly-long-descriptive-name-' || i || '-<b>&',
                   ['windows', 'linux', 'other'][i % 3 + 1], 'Some OS 2024',
                   case when i % 4 = 0 then 'stopped' else 'running' end, i % 4 <> 0, 'owner-' || (i % 50),
                   {STATUSES}[i % 6 + 1], 'reason_' || (i % 7),
                   case when i % 2 = 0 then 'Microsoft Defender for Endpoint' end, 'inventory', 'rule',
                   timestamp '2026-03-14 01:00:00', ['p2', 'p1', 'off', 'unknown'][i % 4 + 1], 'pricing',
                   null, null, date '2026-03-14'
            from range({MACHINES}) t(i)""")
        con.execute("""
            insert into raw_machines
            select machine_key, cloud, scope_id, machine_name, machine_name, machine_key, os_family, os_name,
                   power_state, is_running, owner, 'region', 'native_id', snapshot_date
            from raw_machine_edr_status""")
        con.execute(f"""
            insert into raw_recommendations
            select machine_key, cloud, scope_id, machine_name, os_family,
                   'rec-' || (i % {RECOMMENDATION_TEXTS}),
                   'Recommendation number ' || (i % {RECOMMENDATION_TEXTS}) || ' should be resolved',
                   ['High', 'Medium', 'Low'][i % 3 + 1], edr_status, plan_status,
                   'Remediation action ' || (i % 8),
                   repeat('A long remediation step that explains what to do. ', 8) || chr(10) || 'Step two '
                   || (i % 8),
                   snapshot_date
            from (select *, row_number() over () as i from raw_machine_edr_status)""")
        con.execute(COVERAGE_SUMMARY_SQL)
        con.execute(f"""
            insert into raw_extract_runs
            select 'run-1', 'src', 'aws', 'account-' || i, 'aws__ec2_instances',
                   case when i % 2 = 0 then 'failed' else 'ok' end, 10, case when i % 2 = 1 then 3 else 0 end,
                   1, 1, timestamptz '2026-03-14 02:00:00+00', timestamptz '2026-03-14 02:30:00+00',
                   'AccessDenied', repeat('denied ', 100)
            from range({2 * FAILED_EXTRACTS}) t(i)""")
        con.execute(f"""
            insert into raw_coverage_changes
            select ['newly_unprotected', 'exemption_expiring', 'new_machine', 'machine_gone',
                    'newly_protected'][i % 5 + 1], 'k' || i, 'aws', 'scope-' || (i % {SCOPES}),
                   'changed-machine-' || i || '-<b>&', 'owner-<i>', 'protected', 'not_installed',
                   repeat('detail <b> ', 10), date '2026-03-13', date '2026-03-14'
            from range({CHANGES}) t(i)""")
        con.execute(f"""
            insert into raw_coverage_daily
            select date '2026-03-14' - n::integer, ['azure', 'aws', 'gcp'][s % 3 + 1], 'scope-' || s, 'linux',
                   20, 18, 10 + (n % 5), 2, 2, 1, 1, 1, 60.0
            from range({NIGHTS}) a(n), range({DAILY_SCOPES}) b(s)""")
        con.execute(f"""
            insert into raw_time_to_protect
            select 'k' || i, 'aws', 'scope-1', 'new-machine-<b>-' || i, 'owner', date '2026-03-14' - (i % 90)::integer,
                   null, null, i % 90
            from range({NEW_UNPROTECTED}) t(i)""")
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def large_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_large_db(tmp_path_factory.mktemp("large") / "large.duckdb")


def test_large_estate_is_capped_and_small(large_db: Path) -> None:
    with duckdb.connect(str(large_db), read_only=True) as con:
        ctx = build_coverage_context(con)
    page = render_coverage(ctx)
    size = len(page.encode("utf-8"))
    assert size < MAX_HTML_BYTES, f"{size:,} bytes"
    assert ctx.headline.machines == MACHINES
    assert f"{MACHINES:,} machines" in page  # thousands separators
    scope = next(b for b in ctx.breakdowns if b.dimension == "scope")
    assert len(scope.rows) == 200 and scope.omitted_rows == SCOPES - 200
    assert f"and {SCOPES - 200:,} more" in page
    assert len(ctx.recommendations) == MAX_RECOMMENDATION_GROUPS
    assert ctx.omitted_recommendations == RECOMMENDATION_TEXTS - MAX_RECOMMENDATION_GROUPS
    assert all(len(g.listed) <= 200 for g in ctx.recommendations)
    assert len(ctx.data_quality.failed) == MAX_BANNER_ITEMS
    assert f"and {FAILED_EXTRACTS - MAX_BANNER_ITEMS:,} more failed extracts" in page
    assert len(ctx.stopped.machines) == 200
    assert "<b>" not in page and "&lt;b&gt;&amp;" in page
    assert "<i>" not in page
    # The history sections are capped too.
    text = text_of(page)
    for group, (_, _, _, _, cap, _) in zip(ctx.changes.groups, CHANGE_TYPES, strict=True):
        assert (group.count, len(group.machines), group.omitted) == (CHANGES // 5, cap, CHANGES // 5 - cap)
        assert f"and {CHANGES // 5 - cap:,} more \u2014 full list in the database view coverage_changes" in text
    assert len(ctx.trend.nights) == MAX_TREND_NIGHTS and ctx.trend.omitted_nights == NIGHTS - MAX_TREND_NIGHTS
    assert f"and {NIGHTS - MAX_TREND_NIGHTS:,} earlier nights" in page
    assert len(ctx.time_to_protect.machines) == MAX_UNPROTECTED_NEW
    assert ctx.time_to_protect.still_unprotected == NEW_UNPROTECTED
    assert ctx.time_to_protect.max_days_unprotected == 89
    assert not re.search(r"<style", page, flags=re.I)


def test_write_shrinks_caps_to_stay_under_limit(large_db: Path, tmp_path: Path) -> None:
    out = write_coverage_report(large_db, tmp_path, list_cap=2_000)
    assert out.stat().st_size < MAX_HTML_BYTES
