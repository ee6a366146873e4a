"""The nightly Prefect flow: extract -> land -> build -> report.

Extraction fans out one task per scope job (subscription chunk, account-region, project, workspace) on the
configured task runner with bounded parallelism; each task streams its pages into the run's staging area
and returns its ``extract_runs`` outcomes, and any jobs it hands back (the SSM inventory shards of a large
AWS account-region), which go to the front of the queue (``flows.scheduling``): jobs are submitted no faster
than the runner can start them, so a handed-back job starts at the next free worker. Landing then
publishes the snapshot atomically, the build replaces the database atomically after its data tests pass,
and the reports are written from it.
No Prefect server is needed: without ``PREFECT_API_URL`` Prefect starts a temporary local one.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.futures import as_completed

from flows.lake.writer import ExtractOutcome, Landing
from flows.scheduling import JobQueue
from flows.settings import Settings
from flows.sources.base import JobResult, LandingRef, ScopeJob, split_results

CLOUDS = ("azure", "aws", "gcp")


@dataclass
class RunSummary:
    """What one run did; the CLI turns it into a summary and an exit code."""

    snapshot_date: date
    run_id: str
    source: str
    outcomes: list[ExtractOutcome] = field(default_factory=list)
    database_path: Path | None = None
    reports: dict[str, Path] = field(default_factory=dict)
    emails_sent: int = 0
    email_failures: list[str] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failed_outcomes(self) -> list[ExtractOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def rejected_rows(self) -> int:
        return sum(o.rejected_rows for o in self.outcomes)

    @property
    def partial(self) -> bool:
        return bool(self.failed_outcomes or self.email_failures)


def _source_module(cloud: str):
    return importlib.import_module(f"flows.sources.{cloud}")


@task(name="extract-demo", cache_policy=NO_CACHE)
def extract_demo(ref: LandingRef, machines: int, seed: int, scale_threshold: int = 20_000) -> list[ExtractOutcome]:
    """Land the built-in demo estate, shaped exactly like the real APIs' records (vectorised above the
    threshold, so a million machines land in about a minute)."""
    from flows.demo import land_demo_estate

    landing = ref.open()
    if machines > scale_threshold:
        from flows.demo.scale import land_scale_estate

        land_scale_estate(landing, machines=machines, seed=seed)
    else:
        land_demo_estate(landing, machines=machines, seed=seed)
    return landing.outcomes


@task(name="backfill-demo-history", cache_policy=NO_CACHE)
def backfill_demo_history(settings: Settings, snapshot_date: date) -> list[date]:
    """Give the demo a past: land and build the nights before ``snapshot_date`` that the lake lacks, each
    extracted at 02:00 UTC, so trends and hourly costs have something to show on the first run."""
    from flows.demo import land_demo_estate
    from transforms.build import build_database
    from transforms.history import derived_partition_exists

    done = []
    if settings.demo.machines > settings.demo.scale_threshold:
        return done  # a large estate is for timing one night: no synthetic past
    for back in range(settings.demo.history_days - 1, 0, -1):
        night = snapshot_date - timedelta(days=back)
        if derived_partition_exists(settings.output.lake, night):
            continue
        landing = Landing(settings.output.lake, night, extracted_at=_demo_instant(night))
        land_demo_estate(landing, machines=settings.demo.machines, seed=settings.demo.seed)
        landing.commit()
        build_database(settings, night)
        done.append(night)
    return done


def _demo_instant(night: date) -> datetime:
    return datetime.combine(night, time(2, 0), tzinfo=UTC)


@task(name="plan-jobs", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def plan_jobs(cloud: str, settings: Settings) -> list[ScopeJob]:
    """List a cloud's scopes (may call Organizations, DescribeRegions...)."""
    return _source_module(cloud).plan_jobs(settings)


@task(name="extract-scope", cache_policy=NO_CACHE, task_run_name="extract-{job.cloud}-{job.label}")
def extract_scope(job: ScopeJob, ref: LandingRef, settings: Settings) -> list[JobResult]:
    """Read one scope's datasets into the staging area. API failures come back as failed outcomes
    (after transient-only retries inside), so one scope never stops the others. A scope too large for one
    worker also hands back the jobs that read the rest of it (AWS inventory shards)."""
    return _source_module(job.cloud).extract_job(job, ref.open(), settings)


@task(name="land", cache_policy=NO_CACHE)
def land(ref: LandingRef, outcomes: list[ExtractOutcome], retention_days: int) -> dict[str, int]:
    """Publish the staged files as the snapshot's partitions, atomically per dataset, then apply retention."""
    from flows.lake.retention import prune

    landing = ref.open()
    for outcome in outcomes:
        landing.record(outcome)
    published = landing.commit()
    prune(ref.lake_root, ref.snapshot_date, retention_days)
    return published


@task(name="build", cache_policy=NO_CACHE)
def build(settings: Settings, snapshot_date: date):
    from transforms.build import build_database

    return build_database(settings, snapshot_date)


@task(name="report", cache_policy=NO_CACHE)
def report(settings: Settings, snapshot_date: date) -> dict[str, Path]:
    from reports.publish import write_reports

    return write_reports(settings, snapshot_date)


def _logger():
    """The run's logger inside Prefect (shown in the UI), the module logger when a task is called directly."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def _extract_clouds(settings: Settings, ref: LandingRef) -> list[ExtractOutcome]:
    """Plan each cloud and queue its jobs (started as soon as planned, as many as the runner can run), then
    every outcome, in the order the jobs were queued (see ``flows.scheduling``: handed-back jobs first)."""
    logger = _logger()
    queue: JobQueue[ScopeJob, list[JobResult]] = JobQueue(
        runner_capacity(settings), lambda job: extract_scope.submit(job, ref, settings), _first_done,
        handed_back=lambda results: split_results(results)[1], weight=lambda job: job.machines or 0)
    for cloud in CLOUDS:
        if getattr(settings, cloud) is None:
            logger.info("[%s] section absent from the config: %s skipped", cloud, cloud)
            continue
        try:
            jobs = plan_jobs(cloud, settings)
        except Exception as exc:  # noqa: BLE001 - planning failure is recorded, the other clouds go on
            logger.error("%s: could not list scopes: %s", cloud, exc)
            queue.add_result(_planning_failure(cloud, exc))
            continue
        queue.add(jobs)
    return [outcome for results in queue.drain() for outcome in split_results(results)[0]]


def _first_done(futures: list) -> object:
    """The first of the running Prefect futures to finish."""
    return next(iter(as_completed(futures)))


def _planning_failure(cloud: str, exc: Exception) -> list[ExtractOutcome]:
    from flows.sources.base import classify
    from flows.sources.redact import redact

    info = classify(exc)
    return [ExtractOutcome(source=cloud, cloud=cloud, scope="*", dataset=f"{cloud}__planning", status="failed",
                           error_class=info.error_class, error_message=redact(str(exc)))]


@task(name="email", cache_policy=NO_CACHE, retries=0)
def email(settings: Settings, snapshot_date: date, dry_run_dir: Path | None) -> tuple[int, list[str]]:
    """Send (or, dry-run, write as .eml) the reports. A failed send is reported, never raised: the database
    and reports are already published and stay so."""
    from reports.mail import MailBuildError, build_messages, deliver
    from reports.publish import report_dir

    try:
        messages = build_messages(settings, settings.output.database_path, report_dir(settings, snapshot_date),
                                  snapshot_date)
    except MailBuildError as exc:
        return 0, [f"(no message built): MailBuildError: {exc}"]
    result = deliver(settings, messages, dry_run_dir=dry_run_dir)
    _logger().info("email: %s", result.summary())
    return len(result.sent), [f"{f.recipient}: {f.error_class}: {f.message}" for f in result.failed]


@task(name="artifacts", cache_policy=NO_CACHE)
def artifacts(summary: RunSummary) -> None:
    from flows.artifacts import publish_run_artifacts

    publish_run_artifacts(summary)


@flow(name="nightly", log_prints=True)
def nightly(settings: Settings | None = None, config_path: str | None = None, demo: bool = False,
            snapshot_date: date | None = None, send_email: bool | None = None,
            email_dry_run_dir: str | None = None):
    """Extract every configured cloud (or the demo estate), land, build the database, write the reports,
    and email them when asked. Deployments pass ``config_path``; the CLI passes validated ``settings``.
    A run where some scope could not be read ends in a Completed state named "Partial"."""
    from prefect.states import Completed

    from flows.settings import load_settings

    settings = settings or load_settings(Path(config_path) if config_path else None)
    summary = _run(settings, demo, snapshot_date)
    if send_email if send_email is not None else settings.email.enabled:
        dry_run = Path(email_dry_run_dir) if email_dry_run_dir else None
        summary.emails_sent, summary.email_failures = email(settings, summary.snapshot_date, dry_run)
    artifacts(summary)
    if summary.partial:
        message = (f"partial: {len(summary.failed_outcomes)} extraction(s) failed, "
                   f"{len(summary.email_failures)} email(s) failed")
        return Completed(name="Partial", message=message, data=summary)
    return summary


def _run(settings: Settings, demo: bool, snapshot_date: date | None) -> RunSummary:
    snapshot_date = snapshot_date or settings.snapshot_date or datetime.now(UTC).date()
    lake = settings.output.lake
    if demo:
        backfill_demo_history(settings, snapshot_date)
    instant = _demo_instant(snapshot_date) if demo else None
    landing = Landing(lake, snapshot_date, extracted_at=instant)
    ref = LandingRef(lake, snapshot_date, landing.run_id, instant)
    summary = RunSummary(snapshot_date, landing.run_id, "demo" if demo else "clouds")
    try:
        if demo:
            summary.outcomes = extract_demo(ref, settings.demo.machines, settings.demo.seed,
                                            settings.demo.scale_threshold)
        else:
            summary.outcomes = _extract_clouds(settings, ref)
        land(ref, summary.outcomes, settings.history.retention_days)
    except BaseException:
        landing.abort()
        raise
    result = build(settings, snapshot_date)
    summary.database_path = result.database_path
    summary.seconds.update(result.step_seconds)
    summary.reports = report(settings, snapshot_date)
    return summary


# Dask's housekeeping, tuned for a local cluster that runs a few dozen long, API-bound extraction tasks: its
# worker-side statistical profiler samples every task thread's stack every 10 ms, and its event-loop tick and
# system monitor run every 20 ms and 500 ms. Measured on an idle 2-worker cluster: 22% of a core in all, 5%
# without them; during an extraction that CPU competes with the SDKs' response parsing.
LOCAL_DASK_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


def quiet_local_dask() -> None:
    """Apply ``LOCAL_DASK_CONFIG`` to this process's Dask configuration, before a local cluster starts: the
    scheduler reads it here and the nannies hand a copy to the worker processes they start. A cluster of its
    own (``address``) keeps whatever its operators configured."""
    import dask

    dask.config.set(LOCAL_DASK_CONFIG)


def runner_capacity(settings: Settings) -> int | None:
    """How many extraction tasks the configured runner runs at once; None for a Dask cluster of one's own
    (``address``: its size is its operators', and it may grow), which then gets every job at once."""
    runner = settings.runner
    if runner.kind != "dask":
        return runner.max_workers
    if runner.address:
        return None
    return runner.dask_workers * runner.dask_threads_per_worker


def task_runner_for(settings: Settings):
    """Bounded parallelism across scopes: threads here, or a Dask cluster (``[runner] kind = "dask"``).

    With Dask, ``address`` names a running scheduler whose workers (on any machine) run the scope tasks;
    without it a local cluster of ``dask_workers`` x ``dask_threads_per_worker`` is started for the run.
    Workers on other machines must reach the lake: set ``[output] lake_url`` to an object store.
    """
    import os

    from prefect.task_runners import ThreadPoolTaskRunner

    runner = settings.runner
    if runner.kind != "dask":
        return ThreadPoolTaskRunner(max_workers=runner.max_workers)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # read when distributed is first imported
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise RuntimeError('[runner] kind = "dask" needs the scale extra: pip install "edrcov[scale]"') from None
    if runner.address:
        return DaskTaskRunner(address=runner.address)
    quiet_local_dask()
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs={
        "n_workers": runner.dask_workers, "threads_per_worker": runner.dask_threads_per_worker,
        "processes": runner.dask_processes, "dashboard_address": None})


def configured_nightly(settings: Settings):
    """The nightly flow with the task runner the settings ask for."""
    return nightly.with_options(task_runner=task_runner_for(settings))
