"""Smoke test of the extraction benchmark (the full run is ``python -m tests.benchmarks.extract_bench``): a
tiny estate read once on this process's threads is read the same on Dask worker processes, and moto's EC2
answers are replayed from the warm-up rather than serialized again for every run."""

from __future__ import annotations

import json

import pytest

from tests.benchmarks import extract_bench


@pytest.mark.slow
def test_the_extraction_benchmark_reads_the_same_estate_on_threads_and_on_dask_processes(tmp_path, capsys):
    threads, processes = tmp_path / "threads.json", tmp_path / "processes.json"
    assert extract_bench.main(["--machines", "120", "--workers", "2", "--json", str(threads),
                               "--data-dir", str(tmp_path / "t")]) == 0
    assert extract_bench.main(["--machines", "120", "--workers", "1", "2", "--dask-processes", "2",
                               "--json", str(processes), "--data-dir", str(tmp_path / "p")]) == 0
    on_threads, on_dask = json.loads(threads.read_text()), json.loads(processes.read_text())
    assert [run["processes"] for run in on_dask["runs"]] == [1, 2]
    assert all(run["dask_worker_peak_rss_mb"] > 0 for run in on_dask["runs"])
    for run in on_dask["runs"]:  # the same requests answered and the same rows landed, whatever runs the jobs
        assert run["total"] == on_threads["runs"][0]["total"]
        assert run["served_by_fakes"] | {"cpu_s": 0} == on_threads["runs"][0]["served_by_fakes"] | {"cpu_s": 0}
        assert run["total"]["failed_outcomes"] == 0 and run["clouds"]["aws"]["rows"] > 0
    assert on_dask["ec2_pages_kept_for_replay"] > 0
    assert all(run["served_by_fakes"]["ec2_replayed"] > 0 for run in on_dask["runs"])  # moto not asked again
    assert set(on_dask["speedup_bounds"]["2"]) == {"jobs", "cpu", "machine"}
    assert "2 workers x" in capsys.readouterr().out


@pytest.mark.slow
def test_the_extraction_benchmark_can_serve_and_read_only_some_clouds(tmp_path):
    """``--clouds azure gcp`` measures estates beyond moto's seeding: only those clouds' machines are served
    and read, and requests per machine count the machines served."""
    out = tmp_path / "gcp.json"
    assert extract_bench.main(["--machines", "120", "--clouds", "gcp", "--workers", "1", "--json", str(out),
                               "--data-dir", str(tmp_path / "g")]) == 0
    result = json.loads(out.read_text())
    assert result["clouds"] == ["gcp"] and set(result["machines_per_cloud"]) == {"gcp"}
    assert result["ec2_pages_kept_for_replay"] == 0
    [run] = result["runs"]
    assert set(run["clouds"]) == {"gcp"} and run["clouds"]["gcp"]["rows"] > 0
    assert run["total"]["requests_per_machine"] == round(
        run["total"]["requests"] / result["machines_per_cloud"]["gcp"], 3)
