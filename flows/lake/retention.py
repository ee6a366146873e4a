"""Retention: drop raw and derived partitions older than the retention window ([history] retention_days)."""

from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta
from pathlib import Path

from flows.lake.storage import LakeStorage, drop_partition

log = logging.getLogger(__name__)


def prune(lake_root: Path | str, snapshot_date: date, retention_days: int) -> list[Path | str]:
    """Remove every ``snapshot_date=D`` partition with D older than ``retention_days`` nights before
    ``snapshot_date`` (that night included in the window). Returns the removed folders (their URLs on
    object storage, where a partition's manifests go before its files).

    Derived partitions are kept one night longer: the analyst database published the night before reads its
    earlier nights from them (views computed on read, such as machine_history) until tonight's build
    replaces it, and its window starts one night earlier than tonight's."""
    oldest_kept = snapshot_date - timedelta(days=retention_days - 1)
    storage = LakeStorage.of(lake_root)
    removed: list[Path | str] = []
    for folder, kind, name, drop in _partitions(lake_root, storage):
        try:
            night = date.fromisoformat(name.split("=", 1)[1])
        except ValueError:
            log.warning("left alone: %s is not a snapshot_date=YYYY-MM-DD folder", folder)
            continue
        if night < (oldest_kept - timedelta(days=1) if kind == "derived" else oldest_kept):
            drop()
            removed.append(folder)
    if removed:
        log.info("retention: removed %d partitions older than %s", len(removed), oldest_kept)
    return removed


def _partitions(lake_root: Path | str, storage: LakeStorage):
    """(what to report, kind, folder name, how to remove it) for every ``<kind>/<dataset>/snapshot_date=*``."""
    if storage.local:
        for folder in sorted(Path(str(lake_root).removeprefix("file://")).glob("*/*/snapshot_date=*")):
            yield folder, folder.parent.parent.name, folder.name, lambda folder=folder: shutil.rmtree(folder)
        return
    for kind in storage.dirs(storage.root):
        if kind.startswith(("_", ".")):
            continue
        for dataset in storage.dirs(storage.path(kind)):
            for name in storage.dirs(storage.path(kind, dataset)):
                if name.startswith("snapshot_date="):
                    path = storage.path(kind, dataset, name)
                    yield (storage.url(kind, dataset, name), kind, name,
                           lambda path=path: drop_partition(storage, path))
