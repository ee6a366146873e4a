"""The ``edrcov`` command line: run, build, report, query, schema, init.

Exit codes (documented in the README, stable for schedulers):
0 all well; 1 the run failed (nothing published); 2 bad usage or configuration;
3 partial run: some scopes could not be read (their machines are "unknown", the rest is published).
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flows.settings import ConfigError, Settings, load_settings
from flows.sources.redact import redact

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_PARTIAL = 0, 1, 2, 3
DEFAULT_CONFIG = Path("edrcov.toml")

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Multicloud EDR coverage: which servers lack a working EDR, and what to do about each.")
console = Console(stderr=True)
out = Console()

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config (default: ./edrcov.toml, "
                                                   "or $EDRCOV_CONFIG)", show_default=False)]
DateOption = Annotated[str | None, typer.Option("--snapshot-date", help="YYYY-MM-DD (default: today, UTC; "
                                                "for build/report: the newest snapshot)")]
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="Override [output] data_dir")]


def _fail(message: str, code: int) -> typer.Exit:
    console.print(f"[bold red]edrcov:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _config_path(option: Path | None) -> Path | None:
    if option is not None:
        return option
    if os.environ.get("EDRCOV_CONFIG"):
        return Path(os.environ["EDRCOV_CONFIG"])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def _settings(config: Path | None, data_dir: Path | None = None, **demo: int | None) -> Settings:
    try:
        settings = load_settings(_config_path(config))
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_CONFIG) from None
    updates = {}
    if data_dir is not None:
        updates["output"] = settings.output.model_copy(update={"data_dir": data_dir})
    demo_updates = {k: v for k, v in demo.items() if v is not None}
    if demo_updates:
        updates["demo"] = settings.demo.model_copy(update=demo_updates)
    return settings.model_copy(update=updates) if updates else settings


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"--snapshot-date: {value!r} is not a YYYY-MM-DD date", EXIT_CONFIG) from None


def _quiet_prefect() -> None:
    """Defaults that make Prefect's temporary local server workable on a closed network and cold machine."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@app.command()
def run(
    config: ConfigOption = None,
    demo: Annotated[bool, typer.Option("--demo", help="Use the built-in demo estate instead of the clouds")] = False,
    machines: Annotated[int | None, typer.Option("--machines", help="Demo estate size (vectorised above "
                                                 "[demo] scale_threshold, e.g. 1000000)", min=10)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Demo estate seed")] = None,
    snapshot_date: DateOption = None,
    data_dir: DataDirOption = None,
    send_email: Annotated[bool | None, typer.Option("--email/--no-email", help="Email the reports "
                                                    "(default: [email] enabled)", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --email: write .eml files to "
                                          "reports/<date>/outbox instead of sending")] = False,
) -> None:
    """Run the whole nightly job: extract, land, build the database, write (and email) the reports."""
    settings = _settings(config, data_dir, machines=machines, seed=seed)
    if not demo and _config_path(config) is None:
        console.print("No config file found: running on the built-in demo estate (see `edrcov init`).")
        demo = True
    if not demo and not any((settings.azure, settings.aws, settings.gcp)):
        raise _fail("the config has no [azure], [aws] or [gcp] section: nothing to extract (use --demo?)",
                    EXIT_CONFIG)
    _quiet_prefect()
    from flows.nightly import configured_nightly
    from reports.publish import report_dir

    day = _parse_date(snapshot_date)
    outbox = str(report_dir(settings, day or date.today()) / "outbox") if dry_run else None
    with console.status("Running the nightly flow (extract, land, build, report)..."):
        try:
            summary = configured_nightly(settings)(
                settings=settings, demo=demo, snapshot_date=day,
                send_email=True if dry_run else send_email, email_dry_run_dir=outbox)
        except Exception as exc:  # noqa: BLE001 - one clear line, the traceback is in the Prefect logs
            raise _fail(f"run failed, nothing published: {type(exc).__name__}: {exc}", EXIT_FAILED) from None
    _print_summary(summary)
    if summary.partial:
        raise typer.Exit(EXIT_PARTIAL)


def _print_summary(summary) -> None:
    from flows.summary import verdict_counts

    counts = verdict_counts(summary.database_path)
    table = Table(title=f"edrcov {summary.snapshot_date} ({summary.source})", show_header=True)
    table.add_column("edr_status")
    table.add_column("running", justify="right")
    table.add_column("all", justify="right")
    for status, running, total in counts:
        table.add_row(status, f"{running:,}", f"{total:,}")
    out.print(table)
    out.print(f"database: {summary.database_path}")
    for name, path in summary.reports.items():
        out.print(f"{name} report: {path}")
    if summary.rejected_rows:
        out.print(f"[yellow]{summary.rejected_rows} malformed record(s) set aside: see rejected_records[/]")
    if summary.emails_sent:
        out.print(f"emails: {summary.emails_sent} sent (or written, with --dry-run)")
    for failure in summary.email_failures:
        out.print(f"[red]email failed[/] {escape(failure)}", highlight=False)
    for outcome in summary.failed_outcomes:
        out.print(f"[red]failed[/] {escape(f'{outcome.cloud} {outcome.scope} {outcome.dataset}: ')}"
                  f"{escape(f'{outcome.error_class}: {outcome.error_message}')}", highlight=False)


@app.command()
def build(config: ConfigOption = None, snapshot_date: DateOption = None, data_dir: DataDirOption = None) -> None:
    """Rebuild the database from what is landed (models and data tests), without extracting."""
    from duckdb import OutOfMemoryException

    from transforms.build import ModelError, NoSnapshotError, build_database
    from transforms.data_tests import DataTestError
    from transforms.memory import OutOfMemoryOnOneThread

    settings = _settings(config, data_dir)
    with console.status("Building the database..."):
        try:
            result = build_database(settings, _parse_date(snapshot_date))
        except (NoSnapshotError, DataTestError, ModelError) as exc:
            raise _fail(str(exc), EXIT_FAILED) from None
        except (OutOfMemoryOnOneThread, OutOfMemoryException) as exc:  # the latter: `threads = 1` set already
            raise _fail(f"{exc} (raise [build] memory_limit)", EXIT_FAILED) from None
    out.print(f"built {result.database_path} for {result.snapshot_date}: {result.models_built} models, "
              f"{result.tests_run} data tests passed in {result.seconds:.1f}s")
    if result.memory_retries:
        out.print(f"[yellow]ran out of memory and ran again on one thread:[/] {', '.join(result.memory_retries)} "
                  "(raise [build] memory_limit if this recurs)")


@app.command()
def report(config: ConfigOption = None, snapshot_date: DateOption = None, data_dir: DataDirOption = None) -> None:
    """Write the HTML reports from the current database."""
    from flows.summary import database_snapshot
    from reports.publish import write_reports

    settings = _settings(config, data_dir)
    if not settings.output.database_path.exists():
        raise _fail(f"no database at {settings.output.database_path}: run `edrcov run` or `edrcov build`",
                    EXIT_FAILED)
    day = _parse_date(snapshot_date) or database_snapshot(settings.output.database_path)
    with console.status("Writing reports..."):
        paths = write_reports(settings, day)
    for name, path in paths.items():
        out.print(f"{name} report: {path}")


def _attach_lake(con: Any, lake: str | Path) -> None:
    """Register a lake on object storage on ``con``: the views over earlier nights (``machine_history``,
    ``license_hours``) read it through registered objects (a local lake needs nothing)."""
    from transforms.inputs import attach_lake

    try:
        attach_lake(con, lake)
    except Exception as exc:  # noqa: BLE001 - any storage error: say which lake, exit cleanly
        raise _fail(f"cannot read the lake {lake}: {type(exc).__name__}: {redact(str(exc))}", EXIT_FAILED) from None


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL to run read-only against the analyst database")],
    config: ConfigOption = None,
    output_format: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    data_dir: DataDirOption = None,
) -> None:
    """Query the analyst database (read-only) and print the result."""
    import duckdb

    from flows.summary import print_result

    if output_format not in ("table", "csv", "json"):
        raise _fail(f"--format must be table, csv or json, not {output_format!r}", EXIT_CONFIG)
    settings = _settings(config, data_dir)
    path = settings.output.database_path
    if not path.exists():
        raise _fail(f"no database at {path}: run `edrcov run` first", EXIT_FAILED)
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            _attach_lake(con, settings.output.lake)
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise _fail(f"query failed: {exc}", EXIT_CONFIG) from None
    print_result(out, columns, rows, output_format)


@app.command()
def schema() -> None:
    """Print the documented analyst views and their columns."""
    from transforms.contract import public_views
    from transforms.project import SqlProject

    for name, spec in public_views(SqlProject()).items():
        out.print(f"[bold]{name}[/]: {' '.join(spec['description'].split())}")
        for column, col in (spec.get("columns") or {}).items():
            out.print(f"  {column}: {col['description']}", highlight=False)


@app.command()
def serve(
    config: ConfigOption = None,
    demo: Annotated[bool, typer.Option("--demo", help="Serve the demo estate (no cloud account)")] = False,
    cron: Annotated[str | None, typer.Option("--cron", help="Cron expression (default: [schedule] cron, "
                                             "02:00 nightly)")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA time zone of the cron "
                                                 "(default: [schedule] timezone)")] = None,
    name: Annotated[str, typer.Option("--name", help="Deployment name")] = "edrcov-nightly",
) -> None:
    """Run the nightly flow on a schedule with Prefect's serve (Ctrl-C stops it)."""
    from prefect.schedules import Cron

    settings = _settings(config)
    config_path = _config_path(config)
    try:
        schedule = Cron(cron or settings.schedule.cron, timezone=timezone or settings.schedule.timezone)
    except ValueError as exc:
        raise _fail(f"bad schedule: {exc}", EXIT_CONFIG) from None
    _quiet_prefect()
    from flows.nightly import configured_nightly

    out.print(f"serving {name}: '{schedule.cron}' in {schedule.timezone}"
              f"{' on the demo estate' if demo or config_path is None else f' with {config_path}'}")
    # The config is re-read at every run, so edits apply without restarting the server.
    parameters = {"config_path": str(config_path.resolve()) if config_path else None,
                  "demo": demo or config_path is None}
    configured_nightly(settings).serve(name=name, schedules=[schedule], parameters=parameters)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example config")] = DEFAULT_CONFIG,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
) -> None:
    """Write a commented example configuration to edit."""
    if path.exists() and not force:
        raise _fail(f"{path} exists: use --force to overwrite it", EXIT_CONFIG)
    example = Path(__file__).with_name("example_config.toml").read_text(encoding="utf-8")
    path.write_text(example, encoding="utf-8")
    out.print(f"wrote {path}: edit it, then `edrcov run --config {path}`")


def main() -> None:  # pragma: no cover - console entry point
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
