"""Prefect artifacts summarising each run: a markdown summary and a table of verdict counts, visible in the
Prefect UI next to the flow run (and kept with its history)."""

from __future__ import annotations

from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.summary import verdict_counts


def publish_run_artifacts(summary) -> None:
    counts = verdict_counts(summary.database_path)
    running = {status: n for status, n, _ in counts}
    assessable = sum(n for s, n in running.items() if s not in ("exempt", "not_applicable"))
    coverage = 100.0 * running.get("protected", 0) / assessable if assessable else None
    failed = summary.failed_outcomes
    lines = [
        f"# edrcov {summary.snapshot_date} ({summary.source})",
        "",
        f"**Coverage of running machines:** {coverage:.1f}%" if coverage is not None else "**Coverage:** n/a",
        "",
        "| edr_status | running | all |",
        "| --- | ---: | ---: |",
        *[f"| {status} | {run:,} | {total:,} |" for status, run, total in counts],
        "",
        f"Database: `{summary.database_path}`",
        *[f"- {name} report: `{Path(path)}`" for name, path in summary.reports.items()],
    ]
    if failed:
        lines += ["", f"## {len(failed)} extraction(s) failed (machines there are unknown)", ""]
        lines += [f"- {o.cloud} `{o.scope}` {o.dataset}: {o.error_class}" for o in failed[:50]]
    if summary.rejected_rows:
        lines += ["", f"{summary.rejected_rows} malformed record(s) set aside in `rejected_records`."]
    create_markdown_artifact(markdown="\n".join(lines), key="edrcov-run-summary",
                             description="EDR coverage of the nightly run")
    create_table_artifact(table=[{"edr_status": s, "running": r, "all": a} for s, r, a in counts],
                          key="edrcov-verdicts", description="Machines per EDR verdict")
