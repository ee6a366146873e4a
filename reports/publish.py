"""Write every HTML report for a snapshot into ``<data_dir>/reports/<snapshot_date>/``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from flows.settings import Settings
from reports.coverage import write_coverage_report
from reports.licensing import write_licensing_report


def report_dir(settings: Settings, snapshot_date: date) -> Path:
    return settings.output.reports_dir / snapshot_date.isoformat()


def write_reports(settings: Settings, snapshot_date: date) -> dict[str, Path]:
    """Render the reports from the published database; returns {report name: path}.

    ``coverage.html`` (EDR coverage) and ``licensing.html`` (Defender for Servers hourly cost), side by side.
    """
    out_dir = report_dir(settings, snapshot_date)
    out_dir.mkdir(parents=True, exist_ok=True)
    database, cap = settings.output.database_path, settings.reports.list_cap
    coverage = write_coverage_report(database, out_dir, list_cap=cap, lake=settings.output.lake)
    licensing = write_licensing_report(database, out_dir, list_cap=cap, lake=settings.output.lake)
    return {"coverage": coverage, "licensing": licensing}
