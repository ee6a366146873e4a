"""The scale benchmark: land the demo estate at each size, then time every stage from landed Parquet to
both HTML reports, each in its own process so peak RSS is per stage. Not part of the default test run.

    .venv/bin/python -m tests.benchmarks.bench --sizes 10000 100000 1000000 --out bench-results

Prints, from the same run, the build's ratio to the physical floor (one scan of every raw column the
models read) and to the pandas baseline, the 10x growth ratios, report sizes, and the nightly build with
30 retained nights against the single-night build. Both builds are timed ``--repeat`` times (default 3,
each from the same state) and the median run is reported. Writes results.json and results.md to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

NIGHT = date(2026, 11, 28)
TARGET_SECONDS, TARGET_RSS_MIB = 30.0, 2048.0


def run_stage(stage: str, data_dir: Path, machines: int, night: date = NIGHT) -> dict:
    """One stage in a fresh process, after the writes of the stages before it have reached the disk.

    Without the ``sync``, the kernel writes them back about 30 s later (``vm.dirty_expire_centisecs``),
    in the middle of the next stage: a build right after a month's catch-up measured 13.9 s against 9.6 s
    on the same data once settled. A nightly build runs a day after the last one."""
    os.sync()
    out = subprocess.run([sys.executable, "-m", "tests.benchmarks.stage", stage, str(data_dir), str(machines),
                          night.isoformat()], capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode != 0:
        # The stage's own error, not just its exit status: a benchmark that stops after minutes must say why.
        raise RuntimeError(f"{stage} stage for {machines} machines on {night} failed "
                           f"(exit {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fake_history(data_dir: Path, nights: int) -> None:
    """Retain ``nights`` nights: copy tonight's derived machine snapshot to the previous nights (shifted
    dates), the way a month of nightly runs would have left them, without landing a month of estates.
    The licence intervals and the timeline are left for the first build with history to compute (its
    catch-up); the next night's build then finds them saved, as every night after the first does."""
    import duckdb

    root = data_dir / "lake" / "derived" / "machine_snapshots"
    tonight = root / f"snapshot_date={NIGHT.isoformat()}" / "part-0.parquet"
    con = duckdb.connect()
    for back in range(1, nights):
        night = NIGHT - timedelta(days=back)
        folder = root / f"snapshot_date={night.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        con.execute(f"copy (select * replace (snapshot_at - interval {back} day as snapshot_at) "
                    f"from read_parquet('{tonight}')) to '{folder / 'part-0.parquet'}' (format parquet)")


def timed_build(data_dir: Path, machines: int, night: date, repeat: int) -> dict:
    """The build of ``night``, ``repeat`` times from the same state (each but the first from a copy of
    ``data_dir`` taken before it): the figures of the run with the median time, every time in
    ``repeat_seconds``. One build on this 2-core machine varies by 10-30% from run to run (7.4-9.5 s at
    100k); a median of three does not hang a ratio on one lucky or unlucky run. The builds' output is the
    same every time; the last one's stays in ``data_dir`` for the stages after it."""
    before = data_dir.with_name(data_dir.name + "-before-build")
    if repeat > 1:
        shutil.rmtree(before, ignore_errors=True)
        shutil.copytree(data_dir, before)
    runs = []
    for k in range(repeat):
        if k:
            shutil.rmtree(data_dir)
            shutil.copytree(before, data_dir)
        runs.append(run_stage("build", data_dir, machines, night))
    shutil.rmtree(before, ignore_errors=True)
    median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {**median, "repeat_seconds": [round(run["seconds"], 2) for run in runs],
            "repeat_memory_retries": [run.get("memory_retries", []) for run in runs]}


def median_stage(stage: str, data_dir: Path, machines: int, key: str, repeat: int) -> dict:
    """A stage that only reads ``data_dir`` (the verdict models, the floor, the pandas baseline), run
    ``repeat`` times: the figures of the run with the median ``key``, every one in ``repeat_seconds``. The
    ratios to the build then set a median against a median, not one run against three."""
    runs = [run_stage(stage, data_dir, machines) for _ in range(repeat)]
    median = sorted(runs, key=lambda run: run[key])[len(runs) // 2]
    return {**median, "repeat_seconds": [round(run[key], 2) for run in runs]}


def bench_size(machines: int, work: Path, history_nights: int, repeat: int = 1) -> dict:
    data_dir = work / f"n{machines}"
    shutil.rmtree(data_dir, ignore_errors=True)
    result = {"machines": machines, "land": run_stage("land", data_dir, machines)}
    result["build"] = timed_build(data_dir, machines, NIGHT, repeat)
    result["core"] = median_stage("core", data_dir, machines, "core_s", repeat)
    result["report"] = run_stage("report", data_dir, machines)
    result["floor"] = median_stage("floor", data_dir, machines, "floor_s", repeat)
    result["pandas"] = median_stage("pandas", data_dir, machines, "pandas_s", repeat)
    build_s, report_s = result["build"]["seconds"], result["report"]["seconds"]
    result["end_to_end_s"] = build_s + report_s
    result["peak_rss_mib"] = max(result["build"]["peak_rss_mib"], result["report"]["peak_rss_mib"])
    result["floor_ratio"] = build_s / result["floor"]["floor_s"]
    result["pandas_speedup"] = result["pandas"]["pandas_s"] / build_s
    result["core_floor_ratio"] = result["core"]["core_s"] / result["floor"]["floor_s"]
    result["pandas_core_speedup"] = result["pandas"]["pandas_s"] / result["core"]["core_s"]
    if history_nights > 1:
        fake_history(data_dir, history_nights)
        # The first build with the history computes what no earlier build saved (licence intervals, the
        # timeline); the next night's build is then a night like every other: it finds them saved.
        result["build_history_catch_up"] = run_stage("build", data_dir, machines)
        run_stage("land", data_dir, machines, NIGHT + timedelta(days=1))
        result["build_with_history"] = timed_build(data_dir, machines, NIGHT + timedelta(days=1), repeat)
        result["history_ratio"] = result["build_with_history"]["seconds"] / build_s
    shutil.rmtree(data_dir, ignore_errors=True)
    return result


def markdown(results: list[dict], machine: str) -> str:
    lines = [f"Machine: {machine}", "",
             "| machines | land s | build s (models / tests) | reports s | build+reports s | peak RSS MiB "
             "| floor s | build/floor | verdict models s (/floor) | pandas s | pandas/build | pandas/verdict "
             "| 30-night build s (ratio) [catch-up s] | report bytes |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        b = r["build"]
        hist = r.get("build_with_history")
        hist_cell = (f"{hist['seconds']:.1f} ({r['history_ratio']:.2f}x) "
                     f"[{r['build_history_catch_up']['seconds']:.1f}]") if hist else "-"
        lines.append(
            f"| {r['machines']:,} | {r['land']['seconds']:.1f} | {b['seconds']:.1f} ({b['models_s']:.1f} / "
            f"{b['data_tests_s']:.1f}) | {r['report']['seconds']:.1f} | {r['end_to_end_s']:.1f} | "
            f"{r['peak_rss_mib']:,.0f} | {r['floor']['floor_s']:.2f} | {r['floor_ratio']:.1f}x | "
            f"{r['core']['core_s']:.1f} ({r['core_floor_ratio']:.1f}x) | "
            f"{r['pandas']['pandas_s']:.1f} | {r['pandas_speedup']:.1f}x | {r['pandas_core_speedup']:.1f}x | "
            f"{hist_cell} | "
            f"{', '.join(f'{k} {v:,}' for k, v in r['report']['bytes'].items())} |")
    for r in results:  # a build that had to rebuild a model on one thread is slower than it should be
        retried = []
        for kind in ("build", "build_history_catch_up", "build_with_history"):
            stage = r.get(kind, {})
            for models in stage.get("repeat_memory_retries", [stage.get("memory_retries", [])]):
                if models:
                    retried.append((kind, models))
        if retried:
            lines.append(f"\n{r['machines']:,} machines: ran out of memory and ran again on one thread: "
                         + "; ".join(f"{kind} {', '.join(models)}" for kind, models in retried))
    for small, big in zip(results, results[1:], strict=False):
        growth = big["end_to_end_s"] / small["end_to_end_s"]
        lines.append(f"\n{small['machines']:,} -> {big['machines']:,} machines: build+reports x{growth:.1f} "
                     f"for x{big['machines'] / small['machines']:.0f} the machines")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--history-nights", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each timed build and of the verdict, floor and pandas stages, the "
                             "median reported (default 3; 1 for a quick look)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="edrcov-bench-"))
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, {_memory_gib():.0f} GiB, "
               f"Python {platform.python_version()}")
    results = []
    for size in args.sizes:
        results.append(bench_size(size, work, args.history_nights, args.repeat))
        print(json.dumps(results[-1], default=str), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2,
                                                      default=str))
    table = markdown(results, machine)
    (args.out / "results.md").write_text(table)
    print(table)


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


if __name__ == "__main__":
    main()
