"""The lake's storage abstraction on a local folder, S3 (moto) and fsspec's memory filesystem: the same
landing guarantees everywhere. Locally a partition is swapped in with renames; on object storage it is
published by a manifest written last, and readers follow the newest manifest."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, date, datetime

import duckdb
import pytest

from flows.lake.retention import prune
from flows.lake.storage import (
    MANIFEST_PREFIX,
    LakeStorage,
    StorageError,
    partitioned_dataset,
    published_dates,
    published_partitions,
)
from flows.lake.writer import Landing, partition_path
from flows.sources.base import LandingRef
from tests import builders as b
from transforms.history import PAST_VIEW, derived_partition_exists, export_current, register_past
from transforms.inputs import register_raw

DAY = date(2026, 11, 28)
VMS = "azure__virtual_machines"
AT = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["local", "s3", "memory"])
def lake(request, tmp_path) -> str:
    """A fresh lake root: a folder, an S3 prefix on moto, or an fsspec memory:// prefix."""
    if request.param == "local":
        return str(tmp_path / "lake")
    if request.param == "s3":
        return request.getfixturevalue("s3").url(f"lake-{uuid.uuid4().hex[:8]}")
    return f"memory://edrcov/lake-{uuid.uuid4().hex[:8]}"


def _land(lake, names, *, day=DAY, commit=True, run_id=None) -> Landing:
    landing = Landing(lake, day, run_id, extracted_at=AT)
    with landing.writer(VMS, "sub") as writer:
        writer.write_page([b.azure_vm(n) for n in names])
    if commit:
        landing.commit()
    return landing


def _names(lake, dataset=VMS) -> list[str]:
    """What a reader sees: the published files of every partition, through a pyarrow dataset."""
    storage = LakeStorage.of(lake)
    base = storage.path("raw", dataset)
    files = [f for fs in published_partitions(storage, base).values() for f in fs]
    if not files:
        return []
    return sorted(partitioned_dataset(storage, files, base).to_table(columns=["name"])["name"].to_pylist())


def _partition_files(lake, dataset=VMS, day=DAY) -> list[str]:
    storage = LakeStorage.of(lake)
    return storage.files(partition_path(storage, dataset, day))


# -- the abstraction ----------------------------------------------------------------------------------------------


def test_urls_and_local_paths_resolve_to_a_filesystem_and_a_root(tmp_path, s3):
    local = LakeStorage.of(tmp_path / "lake")
    assert local.local and local.root == str((tmp_path / "lake").resolve())
    remote = LakeStorage.of("s3://edrcov-lake/nightly/?region=us-east-1")
    assert not remote.local and remote.root == "edrcov-lake/nightly"
    assert remote.url("raw", VMS) == f"s3://edrcov-lake/nightly/raw/{VMS}"
    assert LakeStorage.of(f"file://{tmp_path}/lake").local


@pytest.mark.parametrize(("url", "message"), [
    ("s3://edrcov-lake/x?colour=blue", "unknown option"),
    ("az://container/prefix", "AZURE_STORAGE_ACCOUNT_NAME"),
    ("nosuchscheme://bucket/x", "nosuchscheme"),
    ("s3://edrcov-lake/x?secret_key=abc", "credentials"),
])
def test_unusable_locations_are_refused_with_the_reason(url, message, monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    with pytest.raises(StorageError, match=message):
        LakeStorage.of(url)


def test_file_operations(lake):
    storage = LakeStorage.of(lake)
    path = storage.path("raw", "x", "snapshot_date=2026-11-28", "a.bin")
    assert not storage.exists(path)
    storage.write_bytes(path, b"hello")
    assert storage.exists(path) and storage.read_bytes(path) == b"hello"
    assert storage.dirs(storage.path("raw", "x")) == ["snapshot_date=2026-11-28"]
    assert storage.files(storage.path("raw", "x", "snapshot_date=2026-11-28")) == ["a.bin"]
    assert storage.files(storage.path("raw", "absent")) == []
    storage.delete_file(path)
    storage.delete_file(path)  # already gone: fine
    assert not storage.exists(path)
    storage.delete_dir(storage.path("raw"))
    storage.delete_dir(storage.path("raw"))
    assert storage.dirs(storage.root) == []


def test_only_local_filesystems_rename(s3):
    with pytest.raises(StorageError, match="no atomic rename"):
        LakeStorage.of(s3.url("x")).rename("a", "b")


# -- publishing -----------------------------------------------------------------------------------------------------


def test_commit_publishes_and_a_rerun_of_the_date_replaces(lake):
    _land(lake, ["a", "b", "c"])
    assert _names(lake) == ["a", "b", "c"]
    second = _land(lake, ["a", "b"])
    assert _names(lake) == ["a", "b"]
    if second.remote:
        files = _partition_files(lake)
        manifests = [f for f in files if f.startswith(MANIFEST_PREFIX)]
        assert len(manifests) == 1 and second.run_id in manifests[0]
        assert all(second.run_id in f for f in files)  # the first run's files are gone
    else:
        assert not (second.lake_root / "_staging").exists()


def test_crash_between_files_and_manifest_shows_the_previous_night(lake):
    _land(lake, ["a", "b", "c"])
    crashed = _land(lake, ["x", "y"], commit=False)  # workers wrote their files; the commit never came
    assert _names(lake) == ["a", "b", "c"]
    if crashed.remote:  # the files are there, under the final partition, but no manifest names them
        assert any(crashed.run_id in f for f in _partition_files(lake))
    rerun = _land(lake, ["d"])  # the next commit of that night removes the orphans
    assert _names(lake) == ["d"]
    if rerun.remote:
        assert not any(crashed.run_id in f for f in _partition_files(lake))


def test_published_dates_ignore_what_no_commit_published(lake):
    _land(lake, ["a"], day=date(2026, 11, 26))
    _land(lake, ["b"])
    _land(lake, ["c"], day=date(2026, 11, 29), commit=False)  # its files may be in the bucket: not a night
    assert published_dates(lake) == [date(2026, 11, 26), DAY]


def test_abort_removes_what_the_run_wrote(lake):
    _land(lake, ["a"])
    aborted = _land(lake, ["x"], commit=False)
    aborted.abort()
    assert _names(lake) == ["a"]
    if aborted.remote:
        assert not any(aborted.run_id in f for f in _partition_files(lake))


def test_an_empty_rerun_removes_the_partition(lake):
    _land(lake, ["a"])
    Landing(lake, DAY).commit()
    assert _names(lake) == []
    assert _partition_files(lake) == []
    assert _names(lake, "extract_runs") == []


def test_a_skewed_clock_cannot_publish_below_an_existing_manifest(s3):
    lake = s3.url("skew")
    first = _land(lake, ["a"])
    storage = LakeStorage.of(lake)
    partition = partition_path(storage, VMS, DAY)
    (manifest,) = [f for f in storage.files(partition) if f.startswith(MANIFEST_PREFIX)]
    future = f"{MANIFEST_PREFIX}29991231T235959000000Z-{first.run_id}.json"  # a committer far ahead in time
    storage.write_bytes(f"{partition}/{future}", storage.read_bytes(f"{partition}/{manifest}"))
    storage.delete_file(f"{partition}/{manifest}")
    second = _land(lake, ["b"])
    (newest,) = [f for f in storage.files(partition) if f.startswith(MANIFEST_PREFIX)]
    assert newest > future and second.run_id in newest
    assert _names(lake) == ["b"]
    body = json.loads(storage.read_bytes(f"{partition}/{newest}"))
    assert body["run_id"] == second.run_id and len(body["files"]) == 1


def test_workers_reopen_the_run_from_its_url_and_one_commit_publishes_them_all(lake):
    coordinator = Landing(lake, DAY, extracted_at=AT)
    ref = LandingRef(lake, DAY, coordinator.run_id, AT)

    def worker(scope: str, names: list[str]) -> None:
        landing = ref.open()
        with landing.writer(VMS, scope) as writer:
            writer.write_page([b.azure_vm(n) for n in names])

    threads = [threading.Thread(target=worker, args=(f"sub-{i}", [f"vm-{i}a", f"vm-{i}b"])) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _names(lake) == []
    assert coordinator.commit()[VMS] == 3
    assert _names(lake) == sorted(f"vm-{i}{s}" for i in range(3) for s in "ab")


def test_retention_drops_old_partitions_on_object_storage(s3):
    lake = s3.url("retention")
    for day in (date(2026, 5, 30), date(2026, 5, 31), date(2026, 6, 1), DAY):
        _land(lake, [f"vm-{day}"], day=day)
    removed = prune(lake, DAY, retention_days=182)  # window: 2026-05-31 .. 2026-11-28
    assert f"{lake}/raw/{VMS}/snapshot_date=2026-05-30" in removed
    assert all("2026-05-30" in r for r in removed)
    assert _names(lake) == ["vm-2026-05-31", "vm-2026-06-01", f"vm-{DAY}"]
    assert not [k for k in s3.keys("retention/") if "2026-05-30" in k]


# -- reading ----------------------------------------------------------------------------------------------------------


def test_register_raw_reads_object_storage_as_it_reads_a_local_lake(tmp_path, s3):
    remote, local = s3.url("register"), tmp_path / "lake"
    for root in (remote, local):
        _land(root, ["a", "b"], day=date(2026, 11, 27), run_id="2026-11-27-run")
        _land(root, ["a", "b", "c"], run_id="2026-11-28-run")
        _land(root, ["zz"], commit=False, run_id="2026-11-28-crashed")
    tables = {}
    for root in (remote, local):
        con = duckdb.connect()
        partitions = register_raw(con, root)
        assert partitions[VMS] == 2 and partitions["extract_runs"] == 0
        columns = con.execute(f"describe raw.{VMS}").fetchall()
        rows = con.execute(f"select * exclude (raw_json) from raw.{VMS} order by snapshot_date, name").fetchall()
        pruned = con.execute(f"select count(*) from raw.{VMS} where snapshot_date = ?", [DAY]).fetchall()[0]
        empty = con.execute("select count(*) from raw.gcp__os_inventories").fetchall()[0]
        tables[str(root)] = (columns, rows, pruned, empty)
        con.close()
    assert tables[remote] == tables[str(local)]
    assert tables[remote][2] == (3,)


def test_a_crashed_run_is_invisible_to_register_raw(s3):
    lake = s3.url("crash-raw")
    _land(lake, ["a", "b"])
    _land(lake, ["ghost-1", "ghost-2", "ghost-3"], commit=False)  # files written, no manifest
    con = duckdb.connect()
    register_raw(con, lake)
    assert con.execute(f"select name from raw.{VMS} order by 1").fetchall() == [("a",), ("b",)]


def _history(lake, con) -> list[tuple]:
    """Three nights of a stand-in ``int_machine_snapshot`` exported, the last one twice (a rebuild), then
    the past as a build of the fourth night sees it, with the whole window and with two nights."""
    nights = [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 27)]
    for i, night in enumerate(nights):
        con.execute("create or replace table intermediate.int_machine_snapshot as "
                    "select * from (values ('m1', ?::date, ?), ('m2', ?::date, 'protected')) "
                    "as t(machine_key, snapshot_date, edr_status)", [night, f"status-{i}", night])
        export_current(con, lake, night)
    seen = []
    for days in (180, 3):
        count = register_past(con, lake, DAY, retention_days=days)
        seen.append((count, con.execute(f"select * from {PAST_VIEW} order by all").fetchall()))
    return seen


def test_derived_history_round_trips_through_the_bucket_as_through_a_folder(s3, tmp_path):
    results = {}
    for lake in (s3.url("history"), tmp_path / "lake"):
        con = duckdb.connect()
        con.execute("create schema intermediate")
        results[str(lake)] = _history(lake, con)
        assert derived_partition_exists(lake, date(2026, 11, 25)) and not derived_partition_exists(lake, DAY)
    remote, local = results.values()
    assert remote == local
    (everything, rows), (window, recent) = remote
    assert everything == 3 and window == 2
    assert ("m1", "status-3", date(2026, 11, 27)) in rows and ("m1", "status-2", date(2026, 11, 27)) not in rows
    assert {r[-1] for r in recent} == {date(2026, 11, 26), date(2026, 11, 27)}
    manifests = [k for k in s3.keys("history/derived/") if "/_SUCCESS-" in k]
    assert len(manifests) == 3  # one per night: the rebuild replaced the third night's


def test_lake_url_setting_is_an_object_store_url_without_credentials():
    from pydantic import ValidationError

    from flows.settings import OutputSettings

    assert OutputSettings(lake_url=" s3://bucket/edrcov/ ").lake_url == "s3://bucket/edrcov"
    assert OutputSettings(lake_url="s3://b/p/?region=eu-west-1").lake_url == "s3://b/p?region=eu-west-1"
    assert OutputSettings(lake_url="").lake_url is None
    for bad, why in [("/var/lib/lake", "object-store URL"), ("file:///x", "object-store URL"),
                     ("s3://", "no bucket"), ("ftpx://h/p", "unknown storage scheme"),
                     ("s3://b/p?secret_key=x", "credentials")]:
        with pytest.raises(ValidationError, match=why):
            OutputSettings(lake_url=bad)


def _settings_for(tmp_path, where, lake_url):
    """Settings of a data folder ``where`` whose lake is in a bucket (``lake_url``) or, with None, beside it."""
    from flows.settings import OutputSettings, PlanSettings, Settings

    return Settings(output=OutputSettings(data_dir=tmp_path / where, lake_url=lake_url),
                    plans=PlanSettings(aws_accounts={b.ACCOUNT: "p2"}))


def _land_ec2(settings, night, instance_ids=("i-00000000000000a01",)):
    """Land and commit one night of ``instance_ids`` running in one account-region."""
    landing = Landing(settings.output.lake, night, extracted_at=datetime.combine(night, AT.timetz()))
    with landing.writer("aws__ec2_instances", "acct") as writer:
        for iid in instance_ids:
            writer.write(b.ec2_instance(iid), account_id=b.ACCOUNT, region="eu-west-1", reservation_id="r-1")
    landing.commit()


def test_carried_states_are_carried_through_the_bucket_as_through_a_folder(s3, tmp_path):
    """Nightly builds on a lake in a bucket carry the timeline, the daily trends and the licensing month
    from the eve's saved states (not recomputed) and give the same figures as on a local lake."""
    from datetime import timedelta

    from transforms.build import build_database

    carried = ("machine_timeline", "coverage_daily", "license_cost_daily", "license_month_machines",
               "license_month_nights")
    figures = {}
    for where, lake_url in (("bucket", s3.url("carried")), ("folder", None)):
        settings = _settings_for(tmp_path, where, lake_url)
        for n in range(3):
            night = DAY + timedelta(days=n)
            _land_ec2(settings, night, ("i-00000000000000a01", "i-00000000000000a02")[:n + 1])
            build_database(settings, night)
        with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
            past = dict(con.execute("select view_name, sql from duckdb_views() where schema_name = 'derived'"
                                    ).fetchall())
            assert all("rebuilt" not in past[f"{name}_past"] for name in carried), where
            # tonight's timeline is read from a local lake, but copied into a database built from a bucket
            copied = con.execute("select count(*) from duckdb_tables() where table_name = 'machine_timeline'"
                                 ).fetchall()
            assert copied == [(1 if lake_url else 0,)], where
            figures[where] = [con.execute(f"select * exclude (machine_key) from {view} order by all").fetchall()
                              for view in ("machine_timeline",)] + \
                             [con.execute(f"select * from {view} order by all").fetchall()
                              for view in ("coverage_daily", "license_cost_daily", "license_cost_summary")]
    assert figures["bucket"] == figures["folder"]
    assert figures["folder"][3]  # the licensing month is not empty


def test_reports_and_queries_read_the_earlier_nights_of_a_lake_in_a_bucket(s3, tmp_path):
    """From the second night on, ``license_hours`` and ``machine_history`` read earlier nights through
    objects registered on the connection when the lake is in a bucket: the reports (the licensing report
    reads ``license_hours``) and ``edrcov query`` attach the lake first, and show what a folder lake shows."""
    from datetime import timedelta

    from typer.testing import CliRunner

    from flows.cli import app
    from reports.publish import write_reports
    from transforms.build import build_database

    nights = [DAY + timedelta(days=n) for n in range(3)]  # the first night has no licence interval
    answers = {}
    for where, lake_url in (("bucket", s3.url("reports")), ("folder", None)):
        settings = _settings_for(tmp_path, where, lake_url)
        for night in nights:
            _land_ec2(settings, night)
            build_database(settings, night)
        if lake_url:
            with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
                for view, registered in (("license_hours", "license_intervals"),
                                         ("machine_history", "machine_snapshots")):
                    with pytest.raises(duckdb.CatalogException, match=f"_lake_derived__{registered}"):
                        con.execute(f"select count(*) from {view}").fetchall()
        paths = write_reports(settings, nights[-1])
        config = tmp_path / f"{where}.toml"
        config.write_text(f'[output]\ndata_dir = "{tmp_path / where}"\n'
                          + (f'lake_url = "{lake_url}"\n' if lake_url else ""), encoding="utf-8")
        result = CliRunner().invoke(app, ["query", "select snapshot_date, count(*) from machine_history group by 1 "
                                          "order by 1", "--format", "csv", "--config", str(config)])
        assert result.exit_code == 0, result.output
        licensing = paths["licensing"].read_text(encoding="utf-8")
        answers[where] = (result.output, "hours" in licensing, licensing.count("<tr"))
    assert answers["bucket"] == answers["folder"]
    assert answers["folder"][0].splitlines()[1:] == [f"{night},1" for night in nights]


def test_an_attached_bucket_does_not_read_twice_the_nights_a_catch_up_computed(s3, tmp_path):
    """A build that computes missing nights of licence intervals (a lost folder, an upgrade) holds them and
    publishes them to the lake: once attached, the database must not also read them back from the bucket,
    or ``license_hours`` counts those nights twice."""
    from datetime import timedelta

    from transforms.build import build_database
    from transforms.inputs import attach_lake

    nights = [DAY + timedelta(days=n) for n in range(4)]
    hours = {}
    for where, lake_url in (("bucket", s3.url("catch-up")), ("folder", None)):
        settings = _settings_for(tmp_path, where, lake_url)
        for night in nights:
            _land_ec2(settings, night)
            if night < nights[-1]:
                build_database(settings, night)
        storage = LakeStorage.of(settings.output.lake)
        storage.delete_dir(storage.path("derived", "license_intervals", f"snapshot_date={nights[2]}"))
        build_database(settings, nights[-1])  # computes the lost night's intervals again, and tonight's
        with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
            attach_lake(con, settings.output.lake)
            assert con.execute("select count(distinct snapshot_date) from intermediate.int_license_intervals_new"
                               ).fetchall() == [(2,)]
            hours[where] = con.execute("select snapshot_date, count(*) from license_hours group by 1 order by 1"
                                       ).fetchall()
    assert hours["bucket"] == hours["folder"] == [(night, 1) for night in nights[1:]]
