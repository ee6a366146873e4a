"""Extraction benchmark: the three fake clouds serve one demo estate of N machines; edrcov's connectors read
it all, land it and commit, and the figures are printed (and written as JSON).

    .venv/bin/python -m tests.benchmarks.extract_bench --machines 10000
    .venv/bin/python -m tests.benchmarks.extract_bench --machines 10000 --latency-ms 50 --workers 1 8 --json b.json
    .venv/bin/python -m tests.benchmarks.extract_bench --machines 10000 --latency-ms 50 --workers 1 8 \
        --dask-processes 4      # the pool's threads on 4 Dask worker processes (see ``DaskPool``)

What runs: ``plan_jobs`` then ``extract_job`` of each cloud, every job on one thread pool of ``--workers``
threads, as the nightly flow's task runner does (without Prefect's own overhead), queued as the flow
queues them (``flows.scheduling.JobQueue``: no more submitted than the pool can start, the jobs a job hands
back, AWS inventory shards of a large account-region, at the front of the queue), so the pool size is the
whole concurrency (1 worker: one request stream at a time). Then the outcomes are
recorded and the landing committed (the flow's ``land``). Per cloud it reports jobs (of which handed back),
requests, pages, rows and rejected rows (from the committed ``extract_runs``), its wall time (its planning,
then from its first job's start to its last job's end; the clouds overlap when there are several workers)
and its busy time (the sum of its jobs' durations), then totals, requests per machine and this process's
peak RSS, and the CPU time the extractor's process and the fakes' process used (with the load average: this
machine's other work slows both down). With several ``--workers`` values the same seeded fakes serve one run
per value and the speed-up over the first is printed, with two upper bounds that say what limits it: the
jobs' sizes (is the work divisible?) and the extractor's CPU time (see ``bounds``). One-time costs (imports,
SDK service models) are paid by a warm-up before the first run, so that the comparison measures concurrency,
not a cold start.

The fakes (moto for EC2/STS, the SSM, Azure and Cloud Asset fakes; see ``tests.e2e.fake_clouds``) run in a
child process, so that their CPU does not compete with the extractor's for this process's GIL and their
memory is not in its RSS. ``--latency-ms`` makes every answer of the three fakes wait that long, like a
remote API's round trip. EC2 is reached through the SSM fake, which replays moto's DescribeInstances
answers, kept by a warm-up listing before the first run (``warm_ec2_replies``): moto takes ~7 ms of CPU per
instance to serialize them (~25 s at 10,000 machines, each run), CPU that a real cloud's servers would not
take from the two cores being measured. Seeding 10,000 machines takes a few minutes, mostly launching
~3,250 EC2 instances in moto one by one.

Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.lake.writer import ExtractOutcome, Landing, partition_dir
from flows.scheduling import JobQueue
from flows.settings import Settings
from flows.sources.base import LandingRef, ScopeJob, split_results
from tests.e2e.fake_clouds import apply_environment, running_fake_clouds

CLOUDS = ("azure", "aws", "gcp")
SNAPSHOT = date(2026, 11, 26)


# -- the fakes, in a child process ------------------------------------------------------------------------------


def serve_fakes(conn: Any, machines: int, seed: int, snapshot_date: date, latency: float,
                clouds: tuple[str, ...] = CLOUDS) -> None:
    """Child process: start and seed the fake clouds, send what the parent needs, answer until "stop"."""
    started = time.perf_counter()
    with running_fake_clouds(machines, seed=seed, snapshot_date=snapshot_date, latency=latency,
                             replay_ec2=True, clouds=clouds) as fakes:
        conn.send({
            "environment": fakes.environment(),
            "config": fakes.config(Path("unused")),
            "machines_per_cloud": dict(Counter(m.cloud for m in fakes.plan)),
            "records": dict(fakes.loaded),
            "seeding_s": time.perf_counter() - started,
        })
        cpu = time.process_time()
        while (message := conn.recv()) != "stop":
            if message == "served":  # requests the fakes answered (and CPU they used) since the last ask
                served = {"azure": len(fakes.azure.requests), "gcp": len(fakes.cloudasset.requests),
                          "aws": sum(fakes.ssm.calls.values()),  # SSM, STS and EC2 (in front of moto)
                          "ec2_replayed": fakes.ssm.replayed,
                          "cpu_s": round(time.process_time() - cpu, 1)}
                cpu = time.process_time()
                for fake in (fakes.azure, fakes.cloudasset, fakes.ssm):
                    fake.reset()
                conn.send(served)
    conn.send({"peak_rss_mb": _peak_rss_mb()})


@dataclass
class Fakes:
    process: Any
    conn: Any
    ready: dict[str, Any]

    def served(self) -> dict[str, int]:
        self.conn.send("served")
        return self.conn.recv()

    def stop(self) -> dict[str, Any]:
        self.conn.send("stop")
        final = self.conn.recv()
        self.process.join(timeout=60)
        return final


def start_fakes(machines: int, seed: int, snapshot_date: date, latency: float,
                clouds: tuple[str, ...] = CLOUDS) -> Fakes:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve_fakes, args=(child, machines, seed, snapshot_date, latency, clouds),
                              name="edrcov-fake-clouds", daemon=True)
    process.start()
    return Fakes(process, parent, parent.recv())


# -- one extraction -----------------------------------------------------------------------------------------------


def settings_for(config: dict[str, Any], data_dir: Path, workers: int) -> Settings:
    return Settings.model_validate({**config, "output": {"data_dir": str(data_dir)},
                                    "runner": {"max_workers": workers}})


def warm_up(settings: Settings) -> float:
    """Pay the one-time costs before measuring: imports (pyarrow's pandas shim included) and SDK models."""
    started = time.perf_counter()
    import pandas  # noqa: F401 - pyarrow imports it on the first Table.from_pylist
    import pyarrow as pa
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import asset_v1

    from flows.sources import aws

    pa.Table.from_pylist([{"a": 1}])
    for module in CLOUDS:
        importlib.import_module(f"flows.sources.{module}")
    for service in ("sts", "ec2", "ssm"):  # the connector's own cached loader (botocore parses JSON models)
        aws._loader().load_service_model(service, "service-2")
    client = asset_v1.AssetServiceClient(credentials=AnonymousCredentials(), transport="rest",
                                         client_options=ClientOptions(api_endpoint=settings.gcp.api_endpoint))
    client.transport.close()
    return time.perf_counter() - started


def warm_ec2_replies(settings: Settings) -> int:
    """List every planned account-region's EC2 instances once, through the connector's own session and
    client, so that the fakes keep moto's answers (``replay_ec2``) before any run is timed; the pages read."""
    from flows.sources import aws

    pages = 0
    for job in aws.plan_jobs(settings):
        if "error_class" not in job.params:
            region = job.params["region"]
            session = aws._session(job.params["role_arn"], settings.aws, region)
            pages += sum(1 for _ in aws.get_ec2_instance_pages(aws._client(session, "ec2", region, settings.aws), job))
    return pages


@dataclass
class TimedJob:
    cloud: str
    label: str
    handed_back: bool  # a job another job handed back (an AWS inventory shard)
    started: float
    finished: float
    outcomes: list[ExtractOutcome]
    more: list[ScopeJob]  # the jobs it handed back


def _timed_job(cloud: str, job: ScopeJob, ref: LandingRef, settings: Settings, handed_back: bool = False
               ) -> TimedJob:
    started = time.perf_counter()
    results = importlib.import_module(f"flows.sources.{cloud}").extract_job(job, ref.open(), settings)
    return TimedJob(cloud, job.label, handed_back, started, time.perf_counter(), *split_results(results))


class DaskPool:
    """``workers`` threads spread evenly over up to ``processes`` Dask worker processes (a
    ``distributed.LocalCluster``, as ``[runner] kind = "dask"`` with ``dask_processes = true`` starts): each
    process has its own interpreter lock, so the extractor's CPU is no longer bound to one core. One cluster
    per run; its processes inherit this process's environment (the fakes' endpoints) and each pays the
    one-time costs in a warm-up of its own, before the run is timed."""

    def __init__(self, processes: int, workers: int, settings: Settings):
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")  # not the shutdown noise
        from distributed import Client, LocalCluster

        from flows.nightly import quiet_local_dask

        quiet_local_dask()  # as the flow's own local cluster

        self.processes = min(processes, workers)
        if workers % self.processes:
            raise SystemExit(f"--workers {workers} does not divide evenly over {self.processes} processes")
        self.cluster = LocalCluster(n_workers=self.processes, threads_per_worker=workers // self.processes,
                                    processes=True, dashboard_address=None)
        self.client = Client(self.cluster)
        self.client.run(warm_up, settings)

    def __enter__(self) -> Any:
        return self.client.get_executor(pure=False)

    def __exit__(self, *exc: object) -> None:
        pass  # the cluster outlives the run's submissions: its figures are read after, then ``close``

    def cpu_s(self) -> float:
        """CPU time used so far by the worker processes, all together."""
        return sum(self.client.run(time.process_time).values())

    def peak_rss_mb(self) -> float:
        """The largest worker process's peak RSS."""
        return max(self.client.run(_peak_rss_mb).values())

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


def extract(settings: Settings, snapshot_date: date, dask: DaskPool | None = None,
            clouds: tuple[str, ...] = CLOUDS) -> dict[str, Any]:
    """Plan and extract each of ``clouds`` on one pool of ``runner.max_workers`` threads (here, or on
    ``dask``'s worker processes), land, commit; the figures."""
    landing = Landing(settings.output.lake_dir, snapshot_date)
    ref = LandingRef(settings.output.lake_dir, snapshot_date, landing.run_id)
    started, cpu = time.perf_counter(), time.process_time()
    workers_cpu = dask.cpu_s() if dask else 0.0
    planning: dict[str, tuple[float, float]] = {}
    workers = settings.runner.max_workers
    with dask or ThreadPoolExecutor(workers) as pool:
        # like the flow: plan one cloud, queue its jobs, plan the next; at most ``workers`` submitted at once,
        # the jobs a job hands back (AWS inventory shards) at the front of the queue
        queue: JobQueue[tuple[str, ScopeJob, bool], TimedJob] = JobQueue(
            workers, lambda item: pool.submit(_timed_job, item[0], item[1], ref, settings, item[2]),
            lambda futures: next(as_completed(futures)),
            handed_back=lambda timed: [(timed.cloud, more, True) for more in timed.more],
            weight=lambda item: item[1].machines or 0)
        for cloud in clouds:
            planned = time.perf_counter()
            jobs = importlib.import_module(f"flows.sources.{cloud}").plan_jobs(settings)
            planning[cloud] = (planned, time.perf_counter())
            queue.add((cloud, job, False) for job in jobs)
        done = queue.drain()
    extracted = time.perf_counter()
    committed = ref.open()
    for job in done:
        for outcome in job.outcomes:
            committed.record(outcome)
    committed.commit()
    finished = time.perf_counter()
    per_cloud = _extract_runs(settings.output.lake_dir, snapshot_date)
    for cloud in per_cloud:
        jobs = [job for job in done if job.cloud == cloud]
        plan_s = planning[cloud][1] - planning[cloud][0]
        span = max(j.finished for j in jobs) - min(j.started for j in jobs) if jobs else 0.0
        per_cloud[cloud].update(jobs=len(jobs), handed_back=sum(j.handed_back for j in jobs),
                                plan_s=round(plan_s, 2), wall_s=round(plan_s + span, 2),
                                busy_s=round(sum(j.finished - j.started for j in jobs), 2))
    return {"clouds": per_cloud, "extract_s": round(extracted - started, 2), "land_s": round(finished - extracted, 2),
            "wall_s": round(finished - started, 2),
            "cpu_s": round(time.process_time() - cpu + (dask.cpu_s() - workers_cpu if dask else 0.0), 1),
            "busy_s": round(sum(j.finished - j.started for j in done), 2),
            "longest_job_s": round(max((j.finished - j.started for j in done), default=0.0), 2),
            "peak_rss_mb": _peak_rss_mb(), **({"dask_worker_peak_rss_mb": dask.peak_rss_mb()} if dask else {}),
            # when each job ran, in seconds from the start (perf_counter is one clock for every process here)
            "timeline": [{"cloud": j.cloud, "job": j.label, "handed_back": j.handed_back,
                          "start_s": round(j.started - started, 2), "end_s": round(j.finished - started, 2)}
                         for j in sorted(done, key=lambda j: j.started)]}


def _extract_runs(lake: Path, snapshot_date: date) -> dict[str, dict[str, Any]]:
    """Per cloud, from the committed ``extract_runs``: requests, pages, rows, rejected and failed outcomes."""
    folder = partition_dir(lake, "extract_runs", snapshot_date)
    rows = duckdb.sql(
        f"select cloud, sum(requests), sum(pages), sum(rows), sum(rejected_rows), "
        f"count(*) filter (where status = 'failed'), count(*) "
        f"from read_parquet('{folder}/*.parquet') group by cloud").fetchall()
    keys = ("requests", "pages", "rows", "rejected_rows", "failed_outcomes", "outcomes")
    return {cloud: dict(zip(keys, (int(v) for v in values), strict=True)) for cloud, *values in rows}


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


# -- report -----------------------------------------------------------------------------------------------------


def summarize(run: dict[str, Any], machines: int, machines_per_cloud: dict[str, int]) -> dict[str, Any]:
    """Totals and requests per machine, per cloud and overall."""
    clouds = run["clouds"]
    for cloud, figures in clouds.items():
        figures["requests_per_machine"] = round(figures["requests"] / max(1, machines_per_cloud.get(cloud, 0)), 3)
    total = {key: sum(c[key] for c in clouds.values())
             for key in ("requests", "pages", "rows", "rejected_rows", "failed_outcomes", "outcomes", "jobs",
                         "handed_back")}
    served = sum(machines_per_cloud.values()) or machines  # with --clouds, the other clouds' machines are not
    total["requests_per_machine"] = round(total["requests"] / max(1, served), 3)
    run["total"] = total
    return run


def print_run(run: dict[str, Any], workers: int, latency_ms: float) -> None:
    on = f" on {run['processes']} Dask worker processes" if "dask_worker_peak_rss_mb" in run else ""
    workers_rss = f", largest worker {run['dask_worker_peak_rss_mb']:.0f} MB" if on else ""
    print(f"\nworkers={workers}{on} latency={latency_ms:g} ms: extract {run['extract_s']:.1f} s + land/commit "
          f"{run['land_s']:.1f} s = {run['wall_s']:.1f} s, peak RSS {run['peak_rss_mb']:.0f} MB{workers_rss}")
    header = f"{'cloud':<6} {'jobs':>9} {'requests':>9} {'req/mach':>9} {'pages':>7} {'rows':>9} {'rejected':>8} " \
             f"{'failed':>6} {'wall s':>8} {'busy s':>8}"
    print(header)
    print("-" * len(header))
    for cloud in CLOUDS:
        c = run["clouds"].get(cloud)
        if c:
            print(f"{cloud:<6} {_jobs(c):>9} {c['requests']:>9,} {c['requests_per_machine']:>9.3f} {c['pages']:>7,} "
                  f"{c['rows']:>9,} {c['rejected_rows']:>8} {c['failed_outcomes']:>6} {c['wall_s']:>8.1f} "
                  f"{c['busy_s']:>8.1f}")
    t = run["total"]
    print(f"{'total':<6} {_jobs(t):>9} {t['requests']:>9,} {t['requests_per_machine']:>9.3f} {t['pages']:>7,} "
          f"{t['rows']:>9,} {t['rejected_rows']:>8} {t['failed_outcomes']:>6} {run['wall_s']:>8.1f}")
    lock = f"over {run['processes']} processes" if on else "all its threads share one interpreter lock"
    print(f"CPU: extractor {run['cpu_s']:.1f} s ({lock}), fake clouds "
          f"{run['served_by_fakes']['cpu_s']:.1f} s; load average {run['load_average']}")


def bounds(base: dict[str, Any], run: dict[str, Any]) -> dict[str, float]:
    """What limits a run's speed-up over ``base`` (a run on fewer workers, normally one):

    * ``jobs``: how divisible the work is. On ``w`` workers the run lasts at least its jobs' total time
      over ``w``, and at least its longest job (times measured in ``base``, where jobs do not compete).
    * ``cpu``: the extractor's CPU. The threads of one process share one interpreter lock, so the run lasts
      at least the CPU time it used (``cpu_s``, which grows with contention) over its processes (at most
      the machine's cores), whatever the number of workers.
    * ``machine``: every process's CPU, the fakes' included (they answer on the same cores here, where a
      real cloud's servers would not): the run lasts at least all of it over the machine's cores."""
    cores = os.cpu_count() or 1
    outside_jobs = max(0.0, base["wall_s"] - base["busy_s"] / base["workers"])  # planning, committing
    shortest = max(base["busy_s"] / run["workers"], base["longest_job_s"]) + outside_jobs
    extractor = run["cpu_s"] / min(run.get("processes", 1), cores)
    everything = (run["cpu_s"] + run["served_by_fakes"]["cpu_s"]) / cores
    return {"jobs": round(base["wall_s"] / max(shortest, 1e-9), 2),
            "cpu": round(base["wall_s"] / max(extractor, 1e-9), 2),
            "machine": round(base["wall_s"] / max(everything, 1e-9), 2)}


def _jobs(figures: dict[str, Any]) -> str:
    """Jobs, with those handed back (AWS inventory shards) in brackets."""
    return f"{figures['jobs']} ({figures['handed_back']})" if figures["handed_back"] else str(figures["jobs"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.extract_bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=10_000, help="demo estate size (default 10000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay of every fake answer (default 0)")
    parser.add_argument("--workers", type=int, nargs="+", default=[8],
                        help="thread pool size; several values: one run each, with the speed-up (default 8)")
    parser.add_argument("--dask-processes", type=int, metavar="P",
                        help="run each pool's threads on P Dask worker processes instead of this one "
                             "(a local cluster, as [runner] kind = \"dask\" with dask_processes = true)")
    parser.add_argument("--inventory-shard-size", type=int, metavar="N",
                        help="[aws] inventory_shard_size for the runs (default: the setting's default)")
    parser.add_argument("--clouds", nargs="+", choices=CLOUDS, default=list(CLOUDS),
                        help="serve and read only these clouds (default all three; without aws, estates "
                             "beyond moto's seeding, ~3,250 EC2 instances per 10,000 machines, one at a time)")
    parser.add_argument("--json", type=Path, help="write the results as JSON to this path")
    parser.add_argument("--data-dir", type=Path, help="where the runs land (default: a temporary folder)")
    args = parser.parse_args(argv)

    print(f"seeding the fake clouds with {args.machines:,} demo machines (seed {args.seed}, latency "
          f"{args.latency_ms:g} ms)...", flush=True)
    clouds = tuple(cloud for cloud in CLOUDS if cloud in args.clouds)
    fakes = start_fakes(args.machines, args.seed, SNAPSHOT, args.latency_ms / 1000, clouds)
    ready = fakes.ready
    print(f"seeded in {ready['seeding_s']:.0f} s: machines per cloud {ready['machines_per_cloud']}", flush=True)
    results: dict[str, Any] = {
        "machines": args.machines, "seed": args.seed, "latency_ms": args.latency_ms, "snapshot_date": str(SNAPSHOT),
        "machines_per_cloud": ready["machines_per_cloud"], "records_served": ready["records"],
        "seeding_s": round(ready["seeding_s"], 1), "cpus": os.cpu_count(), "dask_processes": args.dask_processes,
        "clouds": list(clouds),
        "runs": [],
    }
    if args.inventory_shard_size:
        ready["config"]["aws"]["inventory_shard_size"] = args.inventory_shard_size
    results["inventory_shard_size"] = settings_for(ready["config"], Path("unused"), 1).aws.inventory_shard_size
    root = Path(args.data_dir or tempfile.mkdtemp(prefix="edrcov-bench-"))
    try:
        with pytest.MonkeyPatch.context() as mp:
            apply_environment(mp, ready["environment"])
            results["warm_up_s"] = round(warm_up(settings_for(ready["config"], root, 1)), 1)
            results["ec2_pages_kept_for_replay"] = (warm_ec2_replies(settings_for(ready["config"], root, 1))
                                                    if "aws" in clouds else 0)
            fakes.served()  # the warm-up's requests and CPU are not the first run's
            for workers in args.workers:
                settings = settings_for(ready["config"], root / f"workers-{workers}", workers)
                dask = DaskPool(args.dask_processes, workers, settings) if args.dask_processes else None
                try:
                    run = summarize(extract(settings, SNAPSHOT, dask, clouds), args.machines,
                                    ready["machines_per_cloud"])
                finally:
                    if dask:
                        dask.close()
                run["workers"] = workers
                run["processes"] = dask.processes if dask else 1
                run["served_by_fakes"] = fakes.served()
                run["load_average"] = " ".join(f"{load:.2f}" for load in os.getloadavg())
                results["runs"].append(run)
                print_run(run, workers, args.latency_ms)
    finally:
        results["fakes_peak_rss_mb"] = fakes.stop()["peak_rss_mb"]
    base = results["runs"][0]
    results["speedup"] = {str(run["workers"]): round(base["wall_s"] / run["wall_s"], 2) for run in results["runs"]}
    results["speedup_bounds"] = {str(run["workers"]): bounds(base, run) for run in results["runs"]}
    if len(results["runs"]) > 1:
        print("\nspeed-up over workers=" + str(base["workers"]) + ": " + ", ".join(
            f"{w} workers x{s} (at most x{results['speedup_bounds'][w]['jobs']} from the jobs' sizes, "
            f"x{results['speedup_bounds'][w]['cpu']} from the extractor's CPU, "
            f"x{results['speedup_bounds'][w]['machine']} from all the CPU on {os.cpu_count()} cores)"
            for w, s in results["speedup"].items() if w != str(base["workers"])))
    print(f"fake clouds process peak RSS {results['fakes_peak_rss_mb']:.0f} MB; data under {root}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
