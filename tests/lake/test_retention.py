"""Retention keeps exactly the window of nights and nothing else."""

from __future__ import annotations

from datetime import date

from flows.lake.retention import prune


def _night(root, kind, dataset, night):
    folder = root / kind / dataset / f"snapshot_date={night}"
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"x")
    return folder


def test_prune_keeps_the_window_in_raw_and_derived(tmp_path):
    old = _night(tmp_path, "raw", "aws__ec2_instances", "2026-05-31")
    edge = _night(tmp_path, "raw", "aws__ec2_instances", "2026-06-01")
    derived_old = _night(tmp_path, "derived", "machine_snapshots", "2026-05-30")
    # kept one night longer: last night's analyst database still reads it until tonight's replaces it
    derived_eve = _night(tmp_path, "derived", "machine_snapshots", "2026-05-31")
    recent = _night(tmp_path, "derived", "machine_snapshots", "2026-11-28")
    stray = tmp_path / "raw" / "aws__ec2_instances" / "snapshot_date=garbage"
    stray.mkdir()
    removed = prune(tmp_path, date(2026, 11, 27), retention_days=180)  # window: 2026-06-01 .. 2026-11-27
    assert set(removed) == {old, derived_old}
    assert edge.exists() and derived_eve.exists() and recent.exists() and stray.exists()
