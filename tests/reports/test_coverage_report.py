"""The coverage report rendered from the fixture database: content, escaping, caps and email safety."""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from coverage_fixture_db import MDE, OK_RUNS, SCRIPT_NAME, SNAPSHOT, build_fixture_db

from reports.coverage import build_coverage_context, render_coverage, split_steps, write_coverage_report
from reports.db import ViewContractError
from reports.render import bar_width, fmt_num, fmt_pct


def text_of(page: str) -> str:
    """The visible text: tags removed, entities decoded, whitespace collapsed."""
    page = re.sub(r"<head>.*?</head>", " ", page, flags=re.S)
    page = re.sub(r"</?(strong|em|code|span|b|i)\b[^>]*>", "", page)
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


@pytest.fixture
def context(con: duckdb.DuckDBPyConnection):
    ctx = build_coverage_context(con)
    return replace(ctx, generated_at=datetime(2026, 3, 15, 5, 7, tzinfo=UTC))


@pytest.fixture
def page(context) -> str:
    return render_coverage(context)


def test_title_has_snapshot_and_generation_time(page: str) -> None:
    title = re.search(r"<title>(.*?)</title>", page, flags=re.S).group(1)
    assert "2026-03-14" in title
    text = text_of(page)
    assert "EDR coverage report \u2014 2026-03-14" in text
    assert "generated 2026-03-15 05:07 UTC" in text


def test_headline_coverage_computed_by_hand(context, page: str) -> None:
    # Running machines needing EDR: m01-m06 m09-m11 m15 m16 (m07 exempt, m08 not applicable) = 11.
    # Protected among them: m01 m02 m03 m09 m11 m16 -> 6 / 11 = 54.5 %.
    assert context.headline.coverage_pct == pytest.approx(54.55)
    assert context.headline.assessable_running == 11
    running = context.headline.running
    assert (running.protected, running.unhealthy, running.not_installed, running.unknown, running.exempt,
            running.not_applicable) == (6, 1, 3, 1, 1, 1)
    assert context.headline.stopped.machines == 3
    assert re.search(r'class="cov-num bad"[^>]*>54\.5%</div>', page)
    text = text_of(page)
    assert "6 protected of 11 running machines that need EDR" in text
    assert "16 machines: 13 running (counted above) and 3 not running" in text


def test_only_latest_snapshot_is_reported(page: str) -> None:
    assert "yesterday-vm" not in page
    assert "Yesterday" not in page


def test_failed_scope_banner_lists_missing_scope_and_dataset(page: str) -> None:
    text = text_of(page)
    assert "Incomplete data: 1 extract failed" in text
    assert ("Google Cloud project proj-beta: dataset gcp__os_inventories (gcp_cloud_asset) \u2014 "
            "PermissionDenied: caller lacks cloudasset.assets.listResource on projects/proj-beta") in text
    assert "2 records rejected" in text
    assert ("2 rejected in AWS account 111122223333/eu-west-1, dataset aws__ec2_instances "
            "(5 rows landed)") in text
    # The banner shows the latest run only, not an older failed one.
    assert "old-failed-scope" not in page
    assert "1 extract skipped in this run: AWS account 444455556666/us-east-1" in text


def test_no_banner_when_every_extract_succeeded(tmp_path: Path) -> None:
    db = build_fixture_db(tmp_path / "ok.duckdb", runs=OK_RUNS)
    with duckdb.connect(str(db), read_only=True) as con:
        ctx = build_coverage_context(con)
    page = render_coverage(ctx)
    assert not ctx.data_quality.has_warnings
    assert "Incomplete data" not in page
    assert "rejected" not in text_of(page)
    assert "banner-box" not in page


def test_cap_line_for_recommendations(con: duckdb.DuckDBPyConnection) -> None:
    ctx = build_coverage_context(con, list_cap=1)
    ec2 = next(g for g in ctx.recommendations if g.recommendation.endswith("on EC2s"))
    assert (ec2.machines, len(ec2.listed), ec2.omitted) == (3, 1, 2)
    text = text_of(render_coverage(ctx))
    assert "and 2 more \u2014 full list in the database view recommendations" in text
    assert "and 2 more \u2014 full list in the database view machine_edr_status" in text  # stopped list
    assert "and 4 more \u2014 full list in the database view coverage_summary" in text  # 5 scopes, 1 shown


def test_no_cap_line_when_everything_fits(page: str) -> None:
    assert "full list in the database view" not in text_of(page)


def test_recommendations_grouped_with_remediation_steps(context, page: str) -> None:
    groups = [(g.severity, g.recommendation, g.machines) for g in context.recommendations]
    assert groups == [
        ("High", "EDR solution should be installed on EC2s", 3),
        ("High", "EDR solution should be installed on virtual machines", 1),
        ("Medium", "EDR configuration issues should be resolved on virtual machines", 1),
        ("Low", "Machines should report software inventory", 1),
    ]
    assert context.recommendation_rows == 6
    ec2 = context.recommendations[0]
    assert {r.action for r in ec2.remediations} == {
        "Upgrade Defender plan", "Enable Microsoft Defender for Endpoint integration"}
    # Steps are list items, numbering removed, and escaped.
    assert "<li>Select the AWS connector &amp; set Servers to &lt;Plan 2&gt;.</li>" in page
    assert "<li>Open Defender for Cloud &gt; Environment settings.</li>" in page
    assert "Troubleshoot onboarding" in page and "Enable inventory collection" in page
    # Steps filled in per machine: one machine's steps are shown, and where the others are.
    mde = next(r for r in ec2.remediations if r.action.startswith("Enable Microsoft"))
    assert (mde.machines, mde.example_machine) == (2, "i-0bbb03")
    assert mde.steps[1].startswith("CLI: aws ssm send-command --instance-ids i-0bbb03 ")
    assert ("Steps for i-0bbb03; every machine's own steps are in recommendations.remediation_steps"
            in text_of(page))
    upgrade = next(r for r in ec2.remediations if r.action == "Upgrade Defender plan")
    assert upgrade.example_machine is None


def test_breakdowns_present_with_bars(context, page: str) -> None:
    assert [b.dimension for b in context.breakdowns] == [
        "cloud", "scope", "os_family", "edr_product", "plan_status"]
    text = text_of(page)
    for title in ("By cloud", "By scope (subscription, account, project)", "By operating system family",
                  "By EDR product", "By Defender for Servers plan"):
        assert title in text
    scope = next(b for b in context.breakdowns if b.dimension == "scope")
    rows = {r.label: r for r in scope.rows}
    assert rows["444455556666"].value == "aws 444455556666"
    assert rows["444455556666"].detail == "AWS account"
    assert rows["proj-alpha"].detail == "Google Cloud project"
    assert rows["sub-bbb"].coverage_pct is None and rows["sub-bbb"].coverage_level == "none"
    # Worst first: most unhealthy + not installed + unknown running machines.
    assert scope.rows[0].label in {"444455556666", "proj-alpha"}
    product = next(b for b in context.breakdowns if b.dimension == "edr_product")
    assert {r.label for r in product.rows} == {MDE, "CrowdStrike Falcon", "(none found)"}
    # Bars are table cells with pixel widths: AWS is 2 of 5 = 40.0 % -> red 40 + grey 60; Azure 3 of 3.
    assert re.search(r'<td width="40" bgcolor="#c62828"[^>]*>&nbsp;</td>\s*<td width="60" bgcolor="#e5e7eb"',
                     page)
    assert re.search(r'<td width="100" bgcolor="#1a7f37"[^>]*>&nbsp;</td>\s*</tr>', page)
    assert "Running machines by verdict" in text
    assert "<svg" not in page.lower() and "<img" not in page.lower()


def test_bare_scope_ids_are_resolved_to_their_cloud(fixture_db: Path) -> None:
    with duckdb.connect(str(fixture_db)) as con:
        con.execute("create or replace view coverage_summary as select * replace ("
                    "case when dimension = 'scope' then split_part(dimension_value, ' ', 2) "
                    "else dimension_value end as dimension_value) from raw_coverage_summary")
    with duckdb.connect(str(fixture_db), read_only=True) as con:
        ctx = build_coverage_context(con)
    scope = next(b for b in ctx.breakdowns if b.dimension == "scope")
    assert {r.label: r.detail for r in scope.rows}["sub-aaa"] == "Azure subscription"


def test_stopped_machines_shown_apart(context, page: str) -> None:
    assert context.stopped.total == 3
    assert [m.machine_name for m in context.stopped.machines] == ["az-old-01", "gce-tmp-01", "i-0ccc04"]
    text = text_of(page)
    assert "Machines not running" in text
    assert "By power state: Stopped 2, Transitioning 1." in text


def test_cloud_strings_are_escaped(page: str) -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT_NAME not in page
    assert "<script" not in page.lower()


def test_email_safe_no_external_assets_or_javascript(page: str) -> None:
    lowered = page.lower()
    assert not re.search(r"""\b(src|href|background|action)\s*=\s*["']?\s*(https?:)?//""", lowered)
    assert "http://" not in lowered and "https://" not in lowered
    assert "<link" not in lowered and "@import" not in lowered and "url(" not in lowered
    assert "@font-face" not in lowered
    assert not re.search(r"\son[a-z]+\s*=", lowered)  # no event handler attributes
    assert "javascript:" not in lowered


def test_all_css_is_inlined(page: str) -> None:
    assert "<style" not in page.lower()
    # Class rules landed in style attributes, e.g. the grid cells and the headline figure.
    assert re.search(r'<td class="n" style="[^"]*text-align:right', page)
    assert re.search(r'class="cov-num bad" style="[^"]*font-size:40px', page)
    assert 'style="margin:0;padding:0;background-color:#f3f4f6' in page


def test_layout_is_tables_with_system_fonts(page: str) -> None:
    assert page.lower().startswith("<!doctype html>")
    assert 'role="presentation"' in page
    assert "-apple-system" in page and "sans-serif" in page


def test_empty_database_renders_a_notice(tmp_path: Path) -> None:
    db = build_fixture_db(tmp_path / "empty.duckdb", machines=False, runs=[])
    with duckdb.connect(str(db), read_only=True) as con:
        ctx = build_coverage_context(con)
    assert not ctx.has_data and ctx.snapshot_date is None
    text = text_of(render_coverage(ctx))
    assert "The database holds no machines" in text


def test_missing_view_is_reported_by_name(tmp_path: Path) -> None:
    db = build_fixture_db(tmp_path / "partial.duckdb")
    with duckdb.connect(str(db)) as con:
        con.execute("drop view recommendations")
        con.execute("create or replace view extract_runs as select * exclude (rejected_rows) "
                    "from raw_extract_runs")
    with duckdb.connect(str(db), read_only=True) as con, pytest.raises(ViewContractError) as raised:
        build_coverage_context(con)
    assert "'recommendations' is missing" in str(raised.value)
    assert "'extract_runs' lacks column(s) rejected_rows" in str(raised.value)


def test_write_coverage_report(fixture_db: Path, tmp_path: Path) -> None:
    out = write_coverage_report(fixture_db, tmp_path / "out" / "nested")
    assert out == tmp_path / "out" / "nested" / "coverage.html"
    page = out.read_text(encoding="utf-8")
    assert "54.5%" in page
    assert [p.name for p in out.parent.iterdir()] == ["coverage.html"]  # no temporary file left behind
    # The database was opened read-only: a writer can still open it afterwards.
    with duckdb.connect(str(fixture_db)) as con:
        assert con.execute("select count(*) from machines").fetchall()[0][0] == 17


def test_snapshot_constant_matches_context(context) -> None:
    assert context.snapshot_date == SNAPSHOT


@pytest.mark.parametrize(("value", "expected"), [(0, "0"), (1234, "1,234"), (1234567, "1,234,567"),
                                                 (None, "\u2014")])
def test_number_format(value, expected) -> None:
    assert fmt_num(value) == expected


@pytest.mark.parametrize(("value", "expected"), [(55.5555, "55.6%"), (100, "100.0%"), (0, "0.0%"),
                                                 (None, "\u2014")])
def test_percent_format(value, expected) -> None:
    assert fmt_pct(value) == expected


def test_bar_width_is_clamped() -> None:
    assert [bar_width(v) for v in (None, -3, 0.4, 55.6, 100, 140)] == [0, 0, 0, 56, 100, 100]


def test_split_steps() -> None:
    assert split_steps("1. First\n\n2) Second\n- Third\n\u2022 Fourth\nplain") == [
        "First", "Second", "Third", "Fourth", "plain"]
    assert split_steps(None) == []
