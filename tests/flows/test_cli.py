"""The command line end to end: `edrcov run --demo` through Prefect, then build, report, query, schema."""

from __future__ import annotations

import json

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_run(prefect_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    data_dir = tmp / "edrcov-data"
    config = tmp / "edrcov.toml"
    config.write_text("[demo]\nhistory_days = 2\n")  # one earlier night is enough here, and quick
    result = runner.invoke(app, ["run", "--demo", "--config", str(config), "--machines", "400",
                                 "--data-dir", str(data_dir), "--snapshot-date", "2026-11-28"])
    return result, data_dir


def test_run_demo_writes_lake_database_and_report(demo_run):
    result, data_dir = demo_run
    assert result.exit_code == EXIT_OK, result.output
    assert "protected" in result.output and "coverage report:" in result.output
    assert list((data_dir / "lake" / "raw" / "aws__ec2_instances").glob("snapshot_date=2026-11-28/*.parquet"))
    report = (data_dir / "reports" / "2026-11-28" / "coverage.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report and "<script" not in report
    with duckdb.connect(str(data_dir / "edrcov.duckdb"), read_only=True) as con:
        outcomes = con.execute("select count(*), count(*) filter (where status = 'ok') from extract_runs").fetchone()
    assert outcomes[0] > 0 and outcomes[0] == outcomes[1]


def test_rerun_of_the_same_date_does_not_duplicate(demo_run):
    _, data_dir = demo_run
    with duckdb.connect(str(data_dir / "edrcov.duckdb"), read_only=True) as con:
        before = con.execute("select count(*) from machines").fetchone()[0]
    result = runner.invoke(app, ["build", "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_OK, result.output
    with duckdb.connect(str(data_dir / "edrcov.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from machines").fetchone()[0] == before


def test_query_formats(demo_run):
    _, data_dir = demo_run
    sql = "select edr_status, count(*) as n from machine_edr_status group by 1 order by 1"
    as_json = runner.invoke(app, ["query", sql, "--format", "json", "--data-dir", str(data_dir)])
    assert as_json.exit_code == EXIT_OK
    assert {row["edr_status"] for row in json.loads(as_json.stdout)} >= {"protected", "not_installed", "unknown"}
    as_csv = runner.invoke(app, ["query", sql, "--format", "csv", "--data-dir", str(data_dir)])
    assert as_csv.stdout.splitlines()[0] == "edr_status,n"


def test_query_is_read_only(demo_run):
    _, data_dir = demo_run
    result = runner.invoke(app, ["query", "drop view machines", "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_CONFIG and "read-only" in result.output.lower()


def test_report_rewrites_from_the_database(demo_run):
    _, data_dir = demo_run
    result = runner.invoke(app, ["report", "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_OK and "coverage report:" in result.output


def test_bad_config_is_one_clear_line(tmp_path):
    config = tmp_path / "edrcov.toml"
    config.write_text("[evidence]\nstale_after_days = 'soon'\n")
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == EXIT_CONFIG
    assert "evidence.stale_after_days" in result.output and "Traceback" not in result.output


def test_build_without_any_snapshot_fails_clearly(tmp_path):
    result = runner.invoke(app, ["build", "--data-dir", str(tmp_path)])
    assert result.exit_code == EXIT_FAILED and "no snapshot" in result.output


@pytest.mark.parametrize("error", ["model", "memory", "memory_on_one_thread"])
def test_build_that_fails_says_why_in_one_clear_line(tmp_path, monkeypatch, error):
    """A model that cannot be built, or a data test out of memory even on one thread, ends the command with
    the reason (the previous database is kept), not a traceback."""
    import transforms.build
    from transforms.memory import OutOfMemoryOnOneThread

    def failing(settings, snapshot_date=None):
        if error == "model":
            raise transforms.build.ModelError("sql/marts/recommendations.sql: Binder Error: no column x")
        if error == "memory_on_one_thread":  # [build] threads = 1: nothing was retried
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")
        raise OutOfMemoryOnOneThread("data test unique(marts.machines: machine_key)", 2,
                                     duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block"))

    monkeypatch.setattr(transforms.build, "build_database", failing)
    result = runner.invoke(app, ["build", "--data-dir", str(tmp_path)])
    assert result.exit_code == EXIT_FAILED and "Traceback" not in result.output
    expected = "recommendations.sql: Binder Error" if error == "model" else "raise [build] memory_limit"
    assert expected in " ".join(result.output.split())


def test_schema_lists_the_documented_views():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == EXIT_OK
    for view in ("machines", "edr_evidence", "machine_edr_status", "recommendations", "coverage_summary"):
        assert f"{view}:" in result.output


def test_init_writes_an_example_that_validates(tmp_path):
    from flows.settings import load_settings

    target = tmp_path / "edrcov.toml"
    assert runner.invoke(app, ["init", str(target)]).exit_code == EXIT_OK
    settings = load_settings(target)
    assert settings.aws.role_name == "EdrcovReadOnly" and settings.gcp.scopes == ["organizations/123456789012"]
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == EXIT_CONFIG and "--force" in again.output


def test_run_with_a_config_without_clouds_says_so(tmp_path):
    config = tmp_path / "edrcov.toml"
    config.write_text("[evidence]\nstale_after_days = 3\n")
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == EXIT_CONFIG and "no [azure], [aws] or [gcp] section" in result.output


def test_demo_run_has_history_for_trends_and_costs(demo_run):
    _, data_dir = demo_run
    with duckdb.connect(str(data_dir / "edrcov.duckdb"), read_only=True) as con:
        nights = con.execute("select count(distinct snapshot_date) from machine_history").fetchone()[0]
        cost = con.execute("select sum(cost) from license_hours").fetchone()[0]
    assert nights == 2 and cost > 0


def test_serve_rejects_a_bad_cron():
    result = runner.invoke(app, ["serve", "--cron", "not a cron"])
    assert result.exit_code == EXIT_CONFIG and "bad schedule" in result.output


def test_serve_schedules_the_flow_nightly_in_the_configured_time_zone(tmp_path, monkeypatch):
    from prefect import Flow

    seen = {}
    monkeypatch.setattr(Flow, "serve", lambda self, **kwargs: seen.update(kwargs, flow=self.name))
    config = tmp_path / "edrcov.toml"
    config.write_text('[schedule]\ntimezone = "Europe/Paris"\n[aws]\naccounts = ["123456789012"]\n')
    result = runner.invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == EXIT_OK, result.output
    (schedule,) = seen["schedules"]
    assert (seen["flow"], schedule.cron, schedule.timezone) == ("nightly", "0 2 * * *", "Europe/Paris")
    assert seen["parameters"] == {"config_path": str(config.resolve()), "demo": False}


def test_email_step_dry_run_writes_eml_files(demo_run, tmp_path):
    from datetime import date

    from flows.nightly import email
    from flows.settings import EmailSettings, OutputSettings, Settings

    _, data_dir = demo_run
    settings = Settings(output=OutputSettings(data_dir=data_dir),
                        email=EmailSettings(recipients=["secops@example.com"], sender="edrcov@example.com"))
    sent, failures = email.fn(settings, date(2026, 11, 28), tmp_path / "outbox")
    assert (sent, failures) == (1, [])
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    text = eml.read_text(encoding="utf-8", errors="replace")
    assert "secops@example.com" in text and "multipart/related" in text and "recommendations.csv" in text
