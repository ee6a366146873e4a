"""Streaming, atomic landing of raw records into the hive-partitioned Parquet lake.

A run stages every file under ``<lake>/_staging/<run_id>/`` while it extracts; ``Landing.commit`` then
swaps each dataset's ``snapshot_date=D`` partition in with directory renames. Readers only glob
``snapshot_date=*`` directories, so a crash mid-extract leaves nothing that looks like a partition, and a
rerun of the same date replaces the previous partition instead of adding to it.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flows.lake.datasets import DATASETS, EXTRACT_RUNS_SCHEMA, REJECTS, DatasetSpec, dataset

log = logging.getLogger(__name__)

EXTRACTION_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)
EXTRACT_RUNS = "extract_runs"


def partition_dir(lake_root: Path, dataset_name: str, snapshot_date: date) -> Path:
    return Path(lake_root) / "raw" / dataset_name / f"snapshot_date={snapshot_date.isoformat()}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "scope"


class DatasetWriter:
    """Streams one (dataset, scope)'s records into one staged Parquet file, a batch at a time.

    Memory stays bounded by ``batch_rows`` whatever the size of the estate. Records that the dataset's
    extractor cannot read are written to ``rejected_records`` with the error instead of stopping the run.
    """

    def __init__(self, landing: Landing, spec: DatasetSpec, scope: str, batch_rows: int = 5000):
        self.landing, self.spec, self.scope, self.batch_rows = landing, spec, scope, batch_rows
        self.rows = self.rejected = self.pages = 0
        self._buffer: list[dict[str, Any]] = []
        self._rejects: list[dict[str, Any]] = []
        self._file: pq.ParquetWriter | None = None
        self._path = landing.staged_file(spec.name, scope)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, record: dict[str, Any], **context: Any) -> None:
        """Extract one raw record (with the scope context the API call was made in) and buffer it."""
        raw = json.dumps(record, default=str, separators=(",", ":"))
        try:
            row = self.spec.extract(record, **context)
        except EXTRACTION_ERRORS as exc:
            self._reject(raw, exc)
            return
        row.update(run_id=self.landing.run_id, scope=self.scope, extracted_at=self.landing.extracted_at,
                   raw_json=raw)
        self._buffer.append(row)
        self.rows += 1
        if len(self._buffer) >= self.batch_rows:
            self._flush()

    def write_page(self, records: Iterable[dict[str, Any]], **context: Any) -> None:
        """Write one API page of records and count the page."""
        for record in records:
            self.write(record, **context)
        self.pages += 1

    def _reject(self, raw: str, exc: Exception) -> None:
        self.rejected += 1
        message = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("rejected a malformed %s record in %s: %s", self.spec.name, self.scope, message)
        self._rejects.append({"dataset": self.spec.name, "error": message, "run_id": self.landing.run_id,
                              "scope": self.scope, "extracted_at": self.landing.extracted_at, "raw_json": raw})

    def _flush(self) -> None:
        if not self._buffer:
            return
        try:
            table = pa.Table.from_pylist(self._buffer, schema=self.spec.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            # A value of the wrong type in one record must not sink the batch: retry row by row.
            table = self._table_row_by_row(exc)
        if self._file is None:
            self._file = pq.ParquetWriter(self._path, self.spec.schema, compression="zstd")
        self._file.write_table(table)
        self._buffer.clear()

    def _table_row_by_row(self, first_error: Exception) -> pa.Table:
        good = []
        for row in self._buffer:
            try:
                pa.Table.from_pylist([row], schema=self.spec.schema)
                good.append(row)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                self.rows -= 1
                self._reject(row["raw_json"], exc)
        log.debug("batch of %s needed row-by-row conversion after %s", self.spec.name, first_error)
        return pa.Table.from_pylist(good, schema=self.spec.schema)

    def discard(self) -> None:
        """Drop everything this writer staged (a failed attempt that will be retried or recorded)."""
        self._buffer.clear()
        self._rejects.clear()
        if self._file is not None:
            self._file.close()
            self._file = None
        self._path.unlink(missing_ok=True)
        self.rows = self.rejected = self.pages = 0

    def close(self) -> None:
        self._flush()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._rejects:
            self.landing.write_rejects(self._rejects)
            self._rejects = []


@dataclass
class ExtractOutcome:
    """What one (source, scope, dataset) extraction did: the row of ``extract_runs``."""

    source: str
    cloud: str
    scope: str
    dataset: str
    status: str  # ok | failed | skipped
    rows: int = 0
    rejected_rows: int = 0
    pages: int = 0
    requests: int = 0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    error_class: str | None = None
    error_message: str | None = None


class Landing:
    """One run's landing into the lake for one snapshot date: stage everything, then commit at once."""

    def __init__(self, lake_root: Path, snapshot_date: date, run_id: str | None = None,
                 extracted_at: datetime | None = None):
        self.lake_root = Path(lake_root)
        self.snapshot_date = snapshot_date
        self.run_id = run_id or f"{snapshot_date.isoformat()}-{uuid.uuid4().hex[:12]}"
        # The snapshot's instant: cost intervals run from one night's extraction to the next. Replays of
        # synthetic nights (the demo's history) pass it explicitly.
        self.extracted_at = extracted_at or datetime.now(UTC)
        self.staging_root = self.lake_root / "_staging" / self.run_id
        self.outcomes: list[ExtractOutcome] = []

    def staged_file(self, dataset_name: str, scope: str) -> Path:
        folder = self.staging_root / dataset_name
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"part-{_slug(scope)}-{uuid.uuid4().hex[:8]}.parquet"

    def writer(self, dataset_name: str, scope: str, batch_rows: int = 5000) -> DatasetWriter:
        return DatasetWriter(self, dataset(dataset_name), scope, batch_rows)

    def write_rejects(self, rows: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(rows, schema=REJECTS.schema)
        pq.write_table(table, self.staged_file(REJECTS.name, rows[0]["scope"]), compression="zstd")

    def record(self, outcome: ExtractOutcome) -> None:
        self.outcomes.append(outcome)

    def commit(self) -> dict[str, int]:
        """Publish every staged dataset as this date's partition, replacing any earlier one.

        Every registered dataset is swapped, including those this run wrote nothing for, so that one
        snapshot date always holds exactly one run's view of the estate.
        """
        self._write_extract_runs()
        published: dict[str, int] = {}
        for name in [*DATASETS, REJECTS.name, EXTRACT_RUNS]:
            published[name] = self._swap_in(name)
        shutil.rmtree(self.staging_root, ignore_errors=True)
        self._remove_empty_staging_parent()
        return published

    def abort(self) -> None:
        """Throw away everything staged; the lake keeps what it had."""
        shutil.rmtree(self.staging_root, ignore_errors=True)
        self._remove_empty_staging_parent()

    def _remove_empty_staging_parent(self) -> None:
        parent = self.staging_root.parent
        if parent.exists() and not any(parent.iterdir()):
            parent.rmdir()

    def _write_extract_runs(self) -> None:
        if not self.outcomes:
            return
        rows = [{"run_id": self.run_id, **asdict(o)} for o in self.outcomes]
        table = pa.Table.from_pylist(rows, schema=EXTRACT_RUNS_SCHEMA)
        pq.write_table(table, self.staged_file(EXTRACT_RUNS, "all"), compression="zstd")

    def _swap_in(self, name: str) -> int:
        target = partition_dir(self.lake_root, name, self.snapshot_date)
        return swap_partition(self.staging_root / name, target, self.run_id)


def swap_partition(staged: Path, target: Path, tag: str) -> int:
    """Replace the partition directory ``target`` with ``staged`` (which may be absent: an empty night).

    Two renames: readers glob ``snapshot_date=*`` only, so they see the old partition or the new one,
    never a half-written one. Returns the number of Parquet files published.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    retired = target.parent / f"_retired-{tag}"
    if target.exists():
        target.rename(retired)
    files = 0
    if staged.exists():
        files = len(list(staged.glob("*.parquet")))
        staged.rename(target)
    shutil.rmtree(retired, ignore_errors=True)
    return files
