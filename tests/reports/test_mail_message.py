"""The messages built from a real demo estate: MIME shape, charts by Content-ID, the CSV, the text summary,
the size cap and dry-run files."""

from __future__ import annotations

import csv
import email
import io
import re
from email import policy
from email.message import EmailMessage

import duckdb
import pytest
from PIL import Image
from smtp_fixtures import SNAPSHOT, demo_estate

from flows.settings import EmailSettings, Settings
from reports.mail import build_messages, deliver, message_size
from reports.mail.message import CSV_FILENAME, DROPPED_HEADER, MailBuildError

FULL = "secops@example.com"


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    return demo_estate(tmp_path_factory)


def settings_for(**email_settings) -> Settings:
    return Settings(email=EmailSettings(**{"recipients": [FULL], "routing_tags": [], **email_settings}))


@pytest.fixture(scope="module")
def full(estate) -> EmailMessage:
    messages = build_messages(settings_for(), estate.database, estate.report_dir, SNAPSHOT)
    assert len(messages) == 1
    return messages[0]


def parse(message: EmailMessage) -> EmailMessage:
    """What a receiving client sees: the message as bytes, parsed again."""
    return email.message_from_bytes(message.as_bytes(), policy=policy.default)


def tree(part) -> list:
    if part.is_multipart():
        return [part.get_content_type(), [tree(p) for p in part.iter_parts()]]
    return part.get_content_type()


def db_rows(estate, sql, params=()):
    with duckdb.connect(str(estate.database), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_full_message_has_the_documented_mime_shape(full):
    message = parse(full)
    assert tree(message) == ["multipart/mixed", [
        ["multipart/alternative", [
            "text/plain",
            ["multipart/related", ["text/html", "image/png", "image/png"]],
        ]],
        "text/csv",
    ]]
    assert message["To"] == FULL
    assert message["From"] == "edrcov@localhost"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"] and message["Date"]
    assert SNAPSHOT.isoformat() in message["Subject"]


def test_html_references_every_png_by_content_id(full):
    message = parse(full)
    html = message.get_body(("html",)).get_content()
    related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
    images = {p["Content-ID"].strip("<>"): p for p in related.iter_parts() if p.get_content_type() == "image/png"}
    referenced = set(re.findall(r'src="cid:([^"]+)"', html))
    assert referenced == set(images) and len(images) == 2
    assert any(cid.startswith("coverage-trend") for cid in images)
    assert any(cid.startswith("cost-trend") for cid in images)
    # the charts block comes first in the body
    assert html.index("<body") < html.index("cid:") < html.index("<h1")
    for part in images.values():
        data = part.get_content()
        assert len(data) < 100_000
        with Image.open(io.BytesIO(data)) as png:
            assert png.format == "PNG" and png.size[0] >= 600
        assert part.get_content_disposition() == "inline"


def test_html_is_inlined_and_holds_both_reports(full, estate):
    html = parse(full).get_body(("html",)).get_content()
    assert "<style" not in html.lower()
    assert "<script" not in html.lower()
    coverage_title = re.search(r"<h1[^>]*>(.*?)</h1>", (estate.report_dir / "coverage.html").read_text()).group(1)
    assert coverage_title in html
    licensing = estate.report_dir / "licensing.html"
    if licensing.exists():  # written by reports.publish alongside coverage.html
        licensing_title = re.search(r"<h1[^>]*>(.*?)</h1>", licensing.read_text()).group(1)
        assert licensing_title in html
        assert html.count("<body") == 1 and html.count("</body>") == 1


def test_text_part_summarises_coverage_changes_recommendations_and_costs(full, estate):
    text = parse(full).get_body(("plain",)).get_content()
    pct = db_rows(estate, "select coverage_pct from coverage_summary where dimension = 'overall' "
                          "and snapshot_date = ?", [SNAPSHOT])[0][0]
    assert f"Coverage: {pct:.1f}%" in text
    running = db_rows(estate, "select count(*) from machine_edr_status where snapshot_date = ? and is_running",
                      [SNAPSHOT])[0][0]
    assert f"{running:,} running" in text
    assert "Changes since" in text or "Changes: no earlier night" in text
    recs = db_rows(estate, "select count(*) from recommendations where snapshot_date = ?", [SNAPSHOT])[0][0]
    assert f"Open recommendations: {recs:,}" in text
    top = db_rows(estate, "select recommendation from recommendations where snapshot_date = ? and severity = 'High' "
                          "group by all order by count(*) desc, recommendation limit 1", [SNAPSHOT])[0][0]
    assert top in text
    cost = db_rows(estate, "select cost, currency from license_cost_summary where period = 'day' "
                           "and dimension = 'overall'")[0]
    assert f"Defender for Servers cost ({cost[1]})" in text and f"{cost[0]:,.2f}" in text
    assert f"Attached: {CSV_FILENAME}" in text


def test_csv_attachment_lists_every_open_recommendation(full, estate):
    attachment = next(p for p in parse(full).iter_attachments())
    assert attachment.get_filename() == CSV_FILENAME
    assert attachment.get_content_type() == "text/csv"
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    expected = db_rows(estate, "select machine_key, recommendation_id, machine_name, severity from recommendations "
                               "where snapshot_date = ?", [SNAPSHOT])
    assert len(rows) == len(expected) > 0
    assert {(r["machine_key"], r["recommendation_id"]) for r in rows} == {(e[0], e[1]) for e in expected}
    assert rows[0]["severity"] == "High"  # most severe first
    assert {"remediation_action", "remediation_steps", "cloud", "scope_id"} <= set(rows[0])


def test_no_recipients_and_no_routes_build_nothing(estate):
    assert build_messages(settings_for(recipients=[]), estate.database, estate.report_dir, SNAPSHOT) == []


def test_missing_report_or_snapshot_is_a_clear_error(estate, tmp_path):
    with pytest.raises(MailBuildError, match="coverage.html"):
        build_messages(settings_for(), estate.database, tmp_path, SNAPSHOT)
    with pytest.raises(MailBuildError, match="2026-01-01"):
        build_messages(settings_for(), estate.database, estate.report_dir, SNAPSHOT.replace(month=1, day=1))


def test_size_cap_drops_the_csv_and_says_so(full, estate):
    full_size = message_size(full)
    csv_size = len(next(full.iter_attachments()).as_bytes())
    cap = full_size - csv_size // 2  # too small for the CSV, enough without it
    messages = build_messages(settings_for(max_message_bytes=cap), estate.database, estate.report_dir, SNAPSHOT)
    message = parse(messages[0])
    assert message[DROPPED_HEADER] == CSV_FILENAME
    assert list(message.iter_attachments()) == []
    text = message.get_body(("plain",)).get_content()
    assert f"The {CSV_FILENAME} attachment" in text and "max_message_bytes" in text
    assert "max_message_bytes" in message.get_body(("html",)).get_content()
    assert message_size(messages[0]) <= cap
    result = deliver(settings_for(max_message_bytes=cap), messages, dry_run_dir=estate.data_dir / "capped")
    assert result.ok and len(result.sent) == 1


def test_message_too_big_even_without_csv_fails_alone(estate, tmp_path):
    settings = settings_for(max_message_bytes=100_000, scope_recipients={estate.gcp_scopes[0]: ["gcp@example.com"]})
    messages = build_messages(settings, estate.database, estate.report_dir, SNAPSHOT)
    assert [m["To"] for m in messages] == [FULL, "gcp@example.com"]
    assert message_size(messages[0]) > 100_000  # the full reports do not fit
    result = deliver(settings, messages, dry_run_dir=tmp_path)
    assert [f.recipient for f in result.failed] == [FULL]
    assert result.failed[0].error_class == "MessageTooLarge"
    assert "max_message_bytes" in result.failed[0].message
    assert [s.recipient for s in result.sent] == ["gcp@example.com"]  # the run went on
    assert [p.name for p in tmp_path.iterdir()] == ["02-gcp@example.com.eml"]


def test_dry_run_writes_one_eml_per_message(estate, tmp_path):
    settings = settings_for(recipients=[FULL, "cto@example.com"],
                            scope_recipients={estate.gcp_scopes[0]: ["gcp@example.com"]})
    messages = build_messages(settings, estate.database, estate.report_dir, SNAPSHOT)
    result = deliver(settings, messages, dry_run_dir=tmp_path / "out")
    assert result.ok and result.dry_run
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["01-secops@example.com.eml", "02-cto@example.com.eml", "03-gcp@example.com.eml"]
    for path, message in zip(sorted((tmp_path / "out").iterdir()), messages, strict=True):
        parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert parsed["To"] == message["To"]
        assert parsed.get_body(("plain",)).get_content() == message.get_body(("plain",)).get_content()
    assert {s.path.name for s in result.sent} == set(names)


def test_building_does_not_touch_the_database_or_reports(estate):
    before = {p: p.stat().st_mtime_ns for p in [estate.database, *estate.report_dir.iterdir()]}
    build_messages(settings_for(), estate.database, estate.report_dir, SNAPSHOT)
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_an_address_listed_twice_gets_one_message(estate):
    messages = build_messages(settings_for(recipients=[FULL, " " + FULL.upper()]), estate.database,
                              estate.report_dir, SNAPSHOT)
    assert [m["To"] for m in messages] == [FULL]
