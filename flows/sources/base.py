"""Shared extraction mechanics: scope jobs, per-dataset extraction with retries, outcome recording.

A transient failure (throttling after the SDK's own retries, a 5xx burst, a timeout) is retried with
exponential backoff and jitter, each attempt starting the dataset's file afresh; a permanent one
(AccessDenied, a bad request) fails at once. Either way the failure becomes an ``ExtractOutcome`` with
``status = "failed"``: one scope's failure never stops the others, and never loses what they landed.

A job may hand back further jobs besides its outcomes (``extract_job`` returns ``JobResult`` items): a
scope too large for one worker splits itself once it has listed what it holds (AWS: an account-region's
SSM inventory, in shards of managed instances). The runner submits them like planned jobs. A part of a
scope keeps the scope's name (``scope``, which ``extract_runs`` and the models match machines by, so a
failed part fails its scope) and says which part it is in ``part``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from flows.lake.writer import ExtractOutcome, Landing
from flows.sources.redact import redact

log = logging.getLogger(__name__)

Page = tuple[list[dict[str, Any]], dict[str, Any]]  # (records, extractor context)


@dataclass(frozen=True)
class ScopeJob:
    """One unit of extraction, small and picklable so it can run on a thread or a Dask worker."""

    cloud: str
    scope: str  # subscription (chunk) / "account/region" / "projects/x" / "workspace:<id>"
    params: dict[str, Any] = field(default_factory=dict)
    part: str | None = None  # which part of the scope, when a job was split (e.g. "inventory 2/5")
    machines: int | None = None  # how many machines it reads, when known (a shard): the larger start first

    @property
    def label(self) -> str:
        """The scope, and the part if any: for logs, task names and failure messages."""
        return f"{self.scope} [{self.part}]" if self.part else self.scope


JobResult = ExtractOutcome | ScopeJob  # what ``extract_job`` returns: outcomes, and jobs still to run


def split_results(results: Iterable[JobResult]) -> tuple[list[ExtractOutcome], list[ScopeJob]]:
    """A job's outcomes, and the further jobs it handed back."""
    outcomes: list[ExtractOutcome] = []
    jobs: list[ScopeJob] = []
    for item in results:
        (jobs if isinstance(item, ScopeJob) else outcomes).append(item)
    return outcomes, jobs


@dataclass(frozen=True)
class LandingRef:
    """Where a worker lands its files: the same run's staging area, reopened by reference."""

    lake_root: Path | str  # a local folder or an object-storage URL
    snapshot_date: date
    run_id: str
    extracted_at: datetime | None = None

    def open(self) -> Landing:
        return Landing(self.lake_root, self.snapshot_date, self.run_id, self.extracted_at)


@dataclass(frozen=True)
class ErrorInfo:
    error_class: str  # AccessDenied, Throttled, ServerError, Timeout, NotFound, BadRequest, ...
    transient: bool


class TransientError(Exception):
    """Raised by sources for conditions worth retrying that the SDK does not raise itself."""


_classifiers: list[Callable[[BaseException], ErrorInfo | None]] = []


def register_classifier(fn: Callable[[BaseException], ErrorInfo | None]) -> Callable:
    """Each cloud module registers how to read its SDK's exceptions."""
    _classifiers.append(fn)
    return fn


def classify(exc: BaseException) -> ErrorInfo:
    for classifier in _classifiers:
        info = classifier(exc)
        if info is not None:
            return info
    if isinstance(exc, TransientError):
        return ErrorInfo("Transient", True)
    if isinstance(exc, TimeoutError):
        return ErrorInfo("Timeout", True)
    if isinstance(exc, ConnectionError):
        return ErrorInfo("ConnectionError", True)
    return ErrorInfo(type(exc).__name__, False)


@dataclass
class RetryPolicy:
    attempts: int = 4
    initial_seconds: float = 1.0
    max_seconds: float = 60.0


class RequestCounter:
    """Counts API requests (retries included) for ``extract_runs``; sources hook it into their SDK."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any, **__: Any) -> None:
        self.count += 1


def extract_dataset(landing: Landing, job: ScopeJob, dataset: str, pages: Callable[[], Iterable[Page]], *,
                    source: str, requests: RequestCounter | None = None,
                    retry: RetryPolicy | None = None) -> ExtractOutcome:
    """Stream one (scope, dataset) into the landing, retrying transient failures; never raises for API errors."""
    retry = retry or RetryPolicy()
    requests = requests or RequestCounter()
    started = datetime.now(UTC)
    outcome = ExtractOutcome(source=source, cloud=job.cloud, scope=job.scope, dataset=dataset, status="ok",
                             started_at=started)
    retrying = Retrying(
        stop=stop_after_attempt(retry.attempts),
        wait=wait_random_exponential(multiplier=retry.initial_seconds, max=retry.max_seconds),
        retry=retry_if_exception(lambda exc: classify(exc).transient),
        reraise=False,
        before_sleep=lambda state: log.warning("%s %s: attempt %d failed (%s), retrying", dataset, job.label,
                                               state.attempt_number, classify(state.outcome.exception()).error_class),
    )
    try:
        for attempt in retrying:
            with attempt:
                writer = landing.writer(dataset, job.scope)
                try:
                    for records, context in pages():
                        writer.write_page(records, **context)
                        # released before the next page is fetched: the loop's name would hold it till then
                        del records, context
                    writer.close()
                except BaseException:
                    writer.discard()
                    raise
                outcome.rows, outcome.rejected_rows, outcome.pages = writer.rows, writer.rejected, writer.pages
    except RetryError as exc:
        _fail(outcome, exc.last_attempt.exception(), job, dataset)
    except Exception as exc:  # noqa: BLE001 - any API error becomes a recorded, visible failure
        _fail(outcome, exc, job, dataset)
    outcome.requests = requests.count
    outcome.finished_at = datetime.now(UTC)
    landing.record(outcome)
    return outcome


def _fail(outcome: ExtractOutcome, exc: BaseException | None, job: ScopeJob, dataset: str) -> None:
    info = classify(exc) if exc else ErrorInfo("Unknown", False)
    _set_failed(outcome, job, info.error_class, redact(str(exc)))
    log.error("%s %s failed: %s: %s", dataset, job.label, info.error_class, outcome.error_message)


def _set_failed(outcome: ExtractOutcome, job: ScopeJob, error_class: str, message: str) -> None:
    outcome.status = "failed"
    outcome.error_class = error_class
    outcome.error_message = f"{job.part}: {message}" if job.part else message


def failed(landing: Landing, job: ScopeJob, dataset: str, source: str, error_class: str, message: str
           ) -> ExtractOutcome:
    """Record a dataset that could not even be attempted because what it depends on failed (e.g. the
    listing of what to read): failed, with no request made. ``message`` must already be redacted."""
    now = datetime.now(UTC)
    outcome = ExtractOutcome(source=source, cloud=job.cloud, scope=job.scope, dataset=dataset, status="ok",
                             started_at=now, finished_at=now)
    _set_failed(outcome, job, error_class, message)
    log.error("%s %s not read: %s: %s", dataset, job.label, error_class, outcome.error_message)
    landing.record(outcome)
    return outcome


def skipped(landing: Landing, job: ScopeJob, dataset: str, source: str, reason: str) -> ExtractOutcome:
    """Record a dataset deliberately not read for a scope (e.g. no workspace configured)."""
    now = datetime.now(UTC)
    outcome = ExtractOutcome(source=source, cloud=job.cloud, scope=job.scope, dataset=dataset, status="skipped",
                             started_at=now, finished_at=now, error_message=reason)
    landing.record(outcome)
    return outcome


def paged(fetch: Callable[[str | None], tuple[list[dict[str, Any]], str | None]],
          context: dict[str, Any] | None = None) -> Iterator[Page]:
    """Follow a continuation token until the API stops returning one."""
    token: str | None = None
    while True:
        records, token = fetch(token)
        yield records, dict(context or {})
        del records  # not held while the next page is fetched
        if not token:
            return
