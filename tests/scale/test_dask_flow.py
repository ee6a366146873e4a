"""Scale-out end to end: the nightly flow against the three fake clouds, extraction tasks on a Dask cluster
(``[runner] kind = "dask"`` with the scheduler's ``address``), the raw lake on S3 (moto, the same server
that plays EC2), the build reading the bucket. Its verdicts must be exactly those of the default runner
(threads, local lake) on the same estate and night.

The Dask cluster runs its workers as threads (``processes=False``) to stay within CI's time budget: the
tasks, the ``LandingRef`` they reopen and the S3 I/O are the same as on worker processes. Worker processes
against a real Prefect server (``dask_processes = true`` with ``PREFECT_API_URL``) were checked by hand on
this same estate and gave the same verdicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest
from distributed.diagnostics.plugin import SchedulerPlugin

from flows.lake.storage import MANIFEST_PREFIX
from flows.nightly import RunSummary, configured_nightly, task_runner_for
from flows.settings import OutputSettings, RunnerSettings, Settings
from tests.e2e.fake_clouds import running_fake_clouds
from tests.scale.conftest import create_bucket

pytestmark = pytest.mark.slow

MACHINES, SEED = 30, 42
NIGHT = date(2026, 11, 26)
BUCKET = "edrcov-scale"


@dataclass
class Run:
    summary: RunSummary
    database: Path


@dataclass
class Runs:
    default: Run
    dask: Run
    dask_tasks: list[tuple[str, str]]  # (task key, worker) of every task a Dask worker finished
    keys: list[str]  # objects in the bucket after the Dask run
    data_dir: Path
    lake_url: str


class TaskRecorder(SchedulerPlugin):
    """A scheduler plugin noting which worker finished which task."""

    name = "edrcov-task-recorder"

    def __init__(self) -> None:
        self.finished: list[tuple[str, str]] = []

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if start == "processing" and finish == "memory":
            self.finished.append((str(key), str(kwargs.get("worker"))))


def _run(settings: Settings) -> Run:
    summary = configured_nightly(settings)(settings=settings, snapshot_date=NIGHT)
    assert isinstance(summary, RunSummary), summary  # a clean night: not Partial
    return Run(summary, summary.database_path)


@pytest.fixture(scope="module")
def runs(prefect_server, tmp_path_factory) -> Iterator[Runs]:
    import boto3
    from distributed import LocalCluster

    tmp = tmp_path_factory.mktemp("scale")
    with running_fake_clouds(MACHINES, seed=SEED, snapshot_date=NIGHT) as clouds, \
            pytest.MonkeyPatch.context() as mp:
        clouds.apply_environment(mp)
        mp.setenv("AWS_ENDPOINT_URL_S3", clouds.moto_url)
        create_bucket(clouds.moto_url, BUCKET)
        config = clouds.config(tmp / "default", max_workers=4)
        default = _run(Settings.model_validate(config))
        lake_url = f"s3://{BUCKET}/lake"
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
            recorder = TaskRecorder()
            cluster.scheduler.add_plugin(recorder)
            settings = Settings.model_validate({
                **config,
                "runner": {"kind": "dask", "address": cluster.scheduler_address},
                "output": OutputSettings(data_dir=tmp / "dask", lake_url=lake_url),
            })
            dask = _run(settings)
        s3 = boto3.client("s3", endpoint_url=clouds.moto_url, region_name="us-east-1")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        keys = sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))
        yield Runs(default, dask, recorder.finished, keys, tmp / "dask", lake_url)


def _table(path: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(query).fetchall()


# Machines whose fresh evidence names one catalogue product in two ways (e.g. "Microsoft Defender for
# Endpoint" and "... Unified Solution"): machine_edr_status.sql picks one with any_value(), so their
# edr_products follows the scan order, which differs between any two lakes (reported to the SQL owners).
AMBIGUOUS_PRODUCT_NAMES = """select distinct machine_key from intermediate.int_edr_evidence where is_fresh
    group by machine_key, product_id having count(distinct product_name) > 1"""


def test_the_dask_runner_on_an_s3_lake_gives_the_default_runners_verdicts(runs):
    query = "select * exclude (edr_products) from machine_edr_status order by machine_key"
    expected = _table(runs.default.database, query)
    assert len(expected) == MACHINES
    assert _table(runs.dask.database, query) == expected
    products = "select machine_key, edr_products from machine_edr_status order by machine_key"
    ambiguous = {row[0] for row in _table(runs.default.database, AMBIGUOUS_PRODUCT_NAMES)}
    assert ambiguous == {row[0] for row in _table(runs.dask.database, AMBIGUOUS_PRODUCT_NAMES)}
    assert [row for row in _table(runs.dask.database, products) if row[0] not in ambiguous] \
        == [row for row in _table(runs.default.database, products) if row[0] not in ambiguous]


def test_every_scope_was_extracted_on_the_dask_cluster(runs):
    outcomes = runs.dask.summary.outcomes
    assert outcomes and {o.status for o in outcomes} == {"ok"}
    scopes = {(o.cloud, o.scope) for o in outcomes}
    assert scopes == {(o.cloud, o.scope) for o in runs.default.summary.outcomes}
    assert {cloud for cloud, _ in scopes} == {"azure", "aws", "gcp"}
    extracted = [(key, worker) for key, worker in runs.dask_tasks if key.startswith("extract_scope")]
    assert len(extracted) == len(scopes), runs.dask_tasks  # one task per scope job, each run on a worker
    assert len({worker for _, worker in extracted}) == 2  # both workers took a share
    query = "select cloud, scope, dataset, status, rows, rejected_rows from extract_runs order by all"
    assert _table(runs.dask.database, query) == _table(runs.default.database, query)


def test_the_lake_is_in_the_bucket_published_by_manifests(runs):
    assert not (runs.data_dir / "lake").exists()
    manifests = [k for k in runs.keys if k.rsplit("/", 1)[-1].startswith(MANIFEST_PREFIX)]
    partitions = {k.rsplit("/", 1)[0] for k in runs.keys if k.endswith(".parquet")}
    assert {k.rsplit("/", 1)[0] for k in manifests} == partitions  # every partition has its manifest
    assert f"lake/raw/aws__ec2_instances/snapshot_date={NIGHT}" in partitions
    assert f"lake/derived/machine_snapshots/snapshot_date={NIGHT}" in partitions
    assert not [k for k in runs.keys if "/_staging/" in k]


def test_task_runner_for_builds_the_configured_runner():
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(task_runner_for(Settings()), ThreadPoolTaskRunner)
    remote = task_runner_for(Settings(runner=RunnerSettings(kind="dask", address="tcp://10.0.0.5:8786")))
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"
    local = task_runner_for(Settings(runner=RunnerSettings(kind="dask", dask_workers=3, dask_processes=True)))
    assert local.address is None and local.cluster_kwargs["n_workers"] == 3 and local.cluster_kwargs["processes"]


def test_a_local_cluster_runs_without_dasks_per_task_profiler_on_its_worker_processes():
    """The local cluster's housekeeping is turned down (``LOCAL_DASK_CONFIG``) in the worker processes it
    starts too, not only here; a remote cluster's configuration is its operators' and is left alone."""
    import dask
    from distributed import Client, LocalCluster

    from flows.nightly import LOCAL_DASK_CONFIG

    dask_defaults = {"distributed.worker.profile.enabled": True, "distributed.admin.tick.interval": "20ms",
                     "distributed.admin.system-monitor.interval": "500ms"}
    with dask.config.set(dask_defaults):  # restored on the way out: other tests see Dask as they found it
        task_runner_for(Settings(runner=RunnerSettings(kind="dask", address="tcp://10.0.0.5:8786")))
        assert dask.config.get("distributed.worker.profile.enabled") is True
        task_runner_for(Settings(runner=RunnerSettings(kind="dask", dask_processes=True)))
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            seen = client.run(lambda: {key: dask.config.get(key) for key in LOCAL_DASK_CONFIG})
            assert list(seen.values()) == [LOCAL_DASK_CONFIG]


def test_the_analyst_database_reads_raw_data_from_the_bucket_once_attached(runs):
    from transforms.inputs import attach_lake

    queries = ["select count(*), count(distinct scope) from raw.azure__virtual_machines",
               "select count(*) from staging.stg_aws__ec2_instances",
               "select count(*) from raw.extract_runs"]
    with duckdb.connect(str(runs.default.database), read_only=True) as con:
        expected = [con.execute(q).fetchall()[0] for q in queries]
    with duckdb.connect(str(runs.dask.database), read_only=True) as con:
        assert con.execute("select count(*) from machine_edr_status").fetchall()[0] == (MACHINES,)  # no lake needed
        with pytest.raises(duckdb.CatalogException, match="_lake_raw__azure__virtual_machines"):
            con.execute(queries[0]).fetchall()[0]
        comment = con.execute("select comment from duckdb_views() where schema_name = 'raw' "
                              "and view_name = 'azure__virtual_machines'").fetchall()[0][0]
        assert "attach_lake" in comment and runs.lake_url in comment
        assert attach_lake(con, runs.lake_url)["aws__ec2_instances"] == 1
        assert [con.execute(q).fetchall()[0] for q in queries] == expected
