"""Retention: drop raw and derived partitions older than the retention window ([history] retention_days)."""

from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta
from pathlib import Path

log = logging.getLogger(__name__)


def prune(lake_root: Path, snapshot_date: date, retention_days: int) -> list[Path]:
    """Remove every ``snapshot_date=D`` partition with D older than ``retention_days`` nights before
    ``snapshot_date`` (that night included in the window). Returns the removed folders."""
    oldest_kept = snapshot_date - timedelta(days=retention_days - 1)
    removed = []
    for folder in sorted(Path(lake_root).glob("*/*/snapshot_date=*")):
        try:
            night = date.fromisoformat(folder.name.split("=", 1)[1])
        except ValueError:
            log.warning("left alone: %s is not a snapshot_date=YYYY-MM-DD folder", folder)
            continue
        if night < oldest_kept:
            shutil.rmtree(folder)
            removed.append(folder)
    if removed:
        log.info("retention: removed %d partitions older than %s", len(removed), oldest_kept)
    return removed
