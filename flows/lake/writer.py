"""Streaming, atomic landing of raw records into the hive-partitioned Parquet lake.

A run stages every file under ``<lake>/_staging/<run_id>/`` while it extracts; ``Landing.commit`` then
swaps each dataset's ``snapshot_date=D`` partition in with directory renames. Readers only glob
``snapshot_date=*`` directories, so a crash mid-extract leaves nothing that looks like a partition, and a
rerun of the same date replaces the previous partition instead of adding to it.

On object storage (``output.lake_url = "s3://..."``; see ``flows.lake.storage``) there is no atomic rename:
files go straight into the final partition under run-tagged names, and the commit publishes each partition
by writing its manifest last; readers follow the newest manifest. Same guarantees: a crash before the
commit leaves the previous night visible, and a rerun replaces.
"""

from __future__ import annotations

import json
import logging
import posixpath
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
from flows.lake.storage import (
    LakeStorage,
    commit_partition,
    discard_run_files,
    partition_name,
    run_file_prefix,
)

log = logging.getLogger(__name__)

EXTRACTION_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)
EXTRACT_RUNS = "extract_runs"


def partition_dir(lake_root: Path, dataset_name: str, snapshot_date: date) -> Path:
    return Path(lake_root) / "raw" / dataset_name / f"snapshot_date={snapshot_date.isoformat()}"


def partition_path(storage: LakeStorage, dataset_name: str, snapshot_date: date) -> str:
    """A raw partition's path inside ``storage.fs`` (local or object storage)."""
    return storage.path("raw", dataset_name, partition_name(snapshot_date))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "scope"


BATCH_JSON_BYTES = 4 * 1024 * 1024


class DatasetWriter:
    """Streams one (dataset, scope)'s records into one staged Parquet file, a batch at a time.

    Memory stays bounded whatever the size of the estate: a batch is flushed at ``batch_rows`` records or
    once their raw JSON reaches ``batch_json_bytes``, whichever comes first. The byte bound is for large
    records: 5,000 GCP OS inventories (a package list each, ~20 KB of Python objects with their JSON) held
    ~100 MB per writer, so with a few projects read at once the extraction's peak grew with the estate until
    every writer's batch was full (868 MB for 22,500 GCP machines). Records that the dataset's extractor cannot
    read are written to ``rejected_records`` with the error instead of stopping the run.
    """

    def __init__(self, landing: Landing, spec: DatasetSpec, scope: str, batch_rows: int = 5000,
                 batch_json_bytes: int = BATCH_JSON_BYTES):
        self.landing, self.spec, self.scope, self.batch_rows = landing, spec, scope, batch_rows
        self.batch_json_bytes = batch_json_bytes
        self.rows = self.rejected = self.pages = 0
        self._buffered_bytes = 0
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
        self._buffered_bytes += len(raw)
        self.rows += 1
        if len(self._buffer) >= self.batch_rows or self._buffered_bytes >= self.batch_json_bytes:
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
            self._file = self.landing.parquet_writer(self._path, self.spec.schema)
        self._file.write_table(table)
        self._buffer.clear()
        self._buffered_bytes = 0

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
        self._buffered_bytes = 0
        self._rejects.clear()
        if self._file is not None:
            self._file.close()
            self._file = None
        self.landing.remove_file(self._path)
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
    """One run's landing into the lake for one snapshot date: stage everything, then commit at once.

    ``lake_root`` is a local folder or an object-store URL (``s3://bucket/prefix``...): a Dask worker on
    another machine reopens the same run's landing from the URL (``LandingRef.open``).
    """

    def __init__(self, lake_root: Path | str, snapshot_date: date, run_id: str | None = None,
                 extracted_at: datetime | None = None):
        self.storage = LakeStorage.of(lake_root)
        self.lake_root: Path | str = (Path(str(lake_root).removeprefix("file://")) if self.storage.local
                                      else str(lake_root))
        self.snapshot_date = snapshot_date
        self.run_id = run_id or f"{snapshot_date.isoformat()}-{uuid.uuid4().hex[:12]}"
        # The snapshot's instant: cost intervals run from one night's extraction to the next. Replays of
        # synthetic nights (the demo's history) pass it explicitly.
        self.extracted_at = extracted_at or datetime.now(UTC)
        # Local lakes stage here; object stores have no staging area (see flows.lake.storage).
        self.staging_root = Path(self.lake_root) / "_staging" / self.run_id if self.storage.local else None
        self.outcomes: list[ExtractOutcome] = []

    @property
    def remote(self) -> bool:
        return not self.storage.local

    def staged_file(self, dataset_name: str, scope: str) -> Path | str:
        """Where one writer's file goes: a staging file locally; on object storage, a run-tagged object in
        the final partition (a path in ``storage.fs``), invisible to readers until the commit."""
        if self.remote:
            partition = partition_path(self.storage, dataset_name, self.snapshot_date)
            return posixpath.join(partition,
                                  f"{run_file_prefix(self.run_id)}{_slug(scope)}-{uuid.uuid4().hex[:8]}.parquet")
        folder = self.staging_root / dataset_name
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"part-{_slug(scope)}-{uuid.uuid4().hex[:8]}.parquet"

    def parquet_writer(self, path: Path | str, schema: pa.Schema, **options: Any) -> pq.ParquetWriter:
        """A Parquet writer for a ``staged_file`` path, on the lake's filesystem (``options``: more
        ``pq.ParquetWriter`` arguments). Anything writing into a landing opens its files here."""
        options.setdefault("compression", "zstd")
        if self.remote:
            return pq.ParquetWriter(path, schema, filesystem=self.storage.fs, **options)
        return pq.ParquetWriter(path, schema, **options)

    def _write_table(self, table: pa.Table, path: Path | str) -> None:
        if self.remote:
            pq.write_table(table, path, compression="zstd", filesystem=self.storage.fs)
        else:
            pq.write_table(table, path, compression="zstd")

    def remove_file(self, path: Path | str) -> None:
        if self.remote:
            self.storage.delete_file(str(path))
        else:
            Path(path).unlink(missing_ok=True)

    def writer(self, dataset_name: str, scope: str, batch_rows: int = 5000) -> DatasetWriter:
        return DatasetWriter(self, dataset(dataset_name), scope, batch_rows)

    def write_rejects(self, rows: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(rows, schema=REJECTS.schema)
        self._write_table(table, self.staged_file(REJECTS.name, rows[0]["scope"]))

    def record(self, outcome: ExtractOutcome) -> None:
        self.outcomes.append(outcome)

    def commit(self) -> dict[str, int]:
        """Publish every staged dataset as this date's partition, replacing any earlier one.

        Every registered dataset is swapped, including those this run wrote nothing for, so that one
        snapshot date always holds exactly one run's view of the estate.
        """
        self._write_extract_runs()
        published: dict[str, int] = {}
        for name in self._all_datasets():
            if self.remote:
                partition = partition_path(self.storage, name, self.snapshot_date)
                published[name] = commit_partition(self.storage, partition, self.run_id)
            else:
                published[name] = self._swap_in(name)
        if not self.remote:
            shutil.rmtree(self.staging_root, ignore_errors=True)
            self._remove_empty_staging_parent()
        return published

    def abort(self) -> None:
        """Throw away everything staged; the lake keeps what it had."""
        if self.remote:
            for name in self._all_datasets():
                discard_run_files(self.storage, partition_path(self.storage, name, self.snapshot_date),
                                  self.run_id)
            return
        shutil.rmtree(self.staging_root, ignore_errors=True)
        self._remove_empty_staging_parent()

    @staticmethod
    def _all_datasets() -> list[str]:
        return [*DATASETS, REJECTS.name, EXTRACT_RUNS]

    def _remove_empty_staging_parent(self) -> None:
        parent = self.staging_root.parent
        if parent.exists() and not any(parent.iterdir()):
            parent.rmdir()

    def _write_extract_runs(self) -> None:
        if not self.outcomes:
            return
        rows = [{"run_id": self.run_id, **asdict(o)} for o in self.outcomes]
        table = pa.Table.from_pylist(rows, schema=EXTRACT_RUNS_SCHEMA)
        self._write_table(table, self.staged_file(EXTRACT_RUNS, "all"))

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
