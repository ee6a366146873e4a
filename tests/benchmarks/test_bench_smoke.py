"""Smoke test of the scale benchmark at its smallest size (the full run is `python -m tests.benchmarks.bench`):
every stage runs in its own process and reports time, peak RSS and the two baselines."""

from __future__ import annotations

import pytest

from tests.benchmarks.bench import bench_size, markdown


@pytest.mark.slow
def test_benchmark_runs_at_the_smallest_size(tmp_path):
    result = bench_size(10_000, tmp_path, history_nights=3, repeat=2)
    assert result["build"]["view_rows"]["machines"] > 9_000
    # each timed build twice from the same state: the same models and rows both times
    assert len(result["build"]["repeat_seconds"]) == len(result["build_with_history"]["repeat_seconds"]) == 2
    assert result["build_with_history"]["view_rows"]["machine_history"] == 4 * result["build"]["view_rows"]["machines"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the copies are gone with the size's folder
    assert result["floor"]["rows_scanned"] > 100_000  # ~20 software rows per machine
    assert set(result["pandas"]["verdicts"]) >= {"protected", "not_installed", "unknown"}
    assert result["peak_rss_mib"] > 0 and result["floor_ratio"] > 0 and result["pandas_speedup"] > 0
    assert result["history_ratio"] > 0 and result["build_history_catch_up"]["seconds"] > 0
    # the verdict models alone give the verdicts the pandas baseline counts
    assert result["core"]["verdicts"]["protected"] > 0 and result["pandas_core_speedup"] > 0
    # built the way the build builds them: the machine list's memory given back once the verdict is built
    assert "intermediate.int_machines__unioned" in result["core"]["released"]
    # the read-only stages the ratios divide by are medians of as many runs as the build
    assert [len(result[stage]["repeat_seconds"]) for stage in ("core", "floor", "pandas")] == [2, 2, 2]
    assert round(result["pandas"]["pandas_s"], 2) in result["pandas"]["repeat_seconds"]
    assert all(size < 2_000_000 for size in result["report"]["bytes"].values())
    assert "10,000" in markdown([result], "test machine")
    # no build ran out of memory here; one that had to rebuild a model on one thread is named in the table
    assert result["build"]["repeat_memory_retries"] == [[], []]
    assert "ran again on one thread" not in markdown([result], "test machine")
    result["build_with_history"]["repeat_memory_retries"][1] = ["marts.machine_edr_status"]
    assert "build_with_history marts.machine_edr_status" in markdown([result], "test machine")
