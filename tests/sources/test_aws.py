"""The AWS connector against moto (EC2, Organizations, STS) and the SSM fake, one scenario per test.

Every list call pages (EC2 5 reservations, ListAccounts 2 accounts, SSM 3 items a page); the estate is
described in ``aws_fixtures``. Retries are made fast with a tiny ``RetryPolicy`` and few SDK attempts.
"""

from __future__ import annotations

import json
import math
import pickle
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.utils
import duckdb
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from pydantic import ValidationError

from flows.lake.writer import ExtractOutcome, Landing, partition_dir
from flows.settings import AwsSettings, Settings
from flows.sources import aws
from flows.sources.base import RetryPolicy, ScopeJob, classify, split_results
from tests.fakes.ssm_server import Fault
from tests.sources.aws_fixtures import (
    ACCESS_KEY,
    APPS_LINUX,
    APPS_WINDOWS,
    FAKE_PAGE,
    MANAGEMENT,
    SECRET_KEY,
    SERVICES_WINDOWS,
    Estate,
    running_estate,
)

SNAPSHOT = date(2026, 11, 28)
FAST = RetryPolicy(attempts=2, initial_seconds=0.01, max_seconds=0.05)
SSM_DATASETS = ("aws__ssm_instance_information", "aws__ssm_applications", "aws__ssm_services")


@pytest.fixture(scope="module")
def estate() -> Iterator[Estate]:
    with running_estate() as running:
        yield running


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch: pytest.MonkeyPatch, estate: Estate) -> None:
    estate.fake.reset()
    monkeypatch.setattr(aws, "EC2_PAGE_SIZE", 5)
    monkeypatch.setattr(aws, "ORG_PAGE_SIZE", 2)


def settings(**overrides: Any) -> Settings:
    return Settings(aws=AwsSettings(**{"regions": ["us-east-1"], "max_attempts": 3, **overrides}))


def run_all(config: Settings, lake: Path) -> tuple[list[ExtractOutcome], list[ScopeJob]]:
    """Plan, extract every job and then every job handed back (as the flow does), commit; the outcomes in
    order, and the jobs that were handed back."""
    landing = Landing(lake, SNAPSHOT)
    outcomes, handed_back = [], []
    jobs = aws.plan_jobs(config)
    while jobs:
        more = []
        for job in jobs:
            done, follow = split_results(aws.extract_job(job, landing, config, retry=FAST))
            outcomes += done
            more += follow
        handed_back += more
        jobs = more
    landing.commit()
    return outcomes, handed_back


def run(config: Settings, lake: Path) -> dict[tuple[str, str], ExtractOutcome]:
    """``run_all`` of an estate read without shards: outcomes by (scope, dataset)."""
    outcomes, handed_back = run_all(config, lake)
    by_key = {(o.scope, o.dataset): o for o in outcomes}
    assert not handed_back and len(by_key) == len(outcomes)
    return by_key


def rows(lake: Path, dataset: str, scope: str | None = None) -> list[dict[str, Any]]:
    folder = partition_dir(lake, dataset, SNAPSHOT)
    if not any(folder.glob("*.parquet")):
        return []
    table = duckdb.sql(f"select * from read_parquet('{folder}/*.parquet')").to_arrow_table().to_pylist()
    return [row for row in table if scope is None or row["scope"] == scope]


def pages_of(entries: int) -> int:
    """ListInventoryEntries calls for one instance: an instance without inventory still costs one."""
    return max(1, math.ceil(entries / FAKE_PAGE))


# ------------------------------------------------------------------------------------------- planning

def test_plan_lists_active_organization_accounts_and_enabled_regions(estate: Estate,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()
    real_client = aws._client

    def spied(*args: Any, **kwargs: Any) -> Any:
        client = real_client(*args, **kwargs)
        client.meta.events.register("before-send", lambda event_name, **_: calls.update([event_name]))
        return client

    monkeypatch.setattr(aws, "_client", spied)
    jobs = aws.plan_jobs(Settings(aws=AwsSettings(organization=True)))

    ec2 = boto3.client("ec2", endpoint_url=estate.moto_url, region_name="us-east-1")
    regions = sorted(r["RegionName"] for r in ec2.describe_regions()["Regions"])
    members = {MANAGEMENT, estate.accounts["A"], estate.accounts["B"], estate.accounts["C"]}  # not D
    assert {job.params["account_id"] for job in jobs} == members
    assert {job.scope for job in jobs} == {f"{a}/{r}" for a in members for r in regions}
    assert calls["before-send.organizations.ListAccounts"] == 3  # 5 accounts, 2 a page
    assert calls["before-send.ec2.DescribeRegions"] == 1  # in the first account only
    for job in jobs:
        assert job.cloud == "aws" and set(job.params) == {"account_id", "region", "role_arn"}
        assert job.params["role_arn"] == f"arn:aws:iam::{job.params['account_id']}:role/EdrcovReadOnly"
    assert {estate.fake.calls[(a, "AssumeRole")] for a in members} == {1}  # each role checked once


def test_role_name_none_reads_the_callers_own_account(estate: Estate, tmp_path: Path) -> None:
    config = settings(role_name=None)
    jobs = aws.plan_jobs(config)
    assert [(job.scope, job.params["role_arn"]) for job in jobs] == [(f"{MANAGEMENT}/us-east-1", None)]
    outcomes = run(config, tmp_path)
    assert {o.status for o in outcomes.values()} == {"ok"}
    assert not [call for call in estate.fake.calls if call[1] == "AssumeRole"]


def test_assume_role_names_the_session_and_passes_the_external_id(estate: Estate) -> None:
    a = estate.accounts["A"]
    aws.plan_jobs(settings(accounts=[a], external_id="edrcov-trust-42"))
    assert estate.fake.assume_role_requests == [{
        "Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": f"arn:aws:iam::{a}:role/EdrcovReadOnly",
        "RoleSessionName": "edrcov", "ExternalId": "edrcov-trust-42"}]


# ------------------------------------------------------------------------------------------- landing

def test_every_dataset_lands_page_by_page_with_its_context(estate: Estate, tmp_path: Path) -> None:
    a = estate.accounts["A"]
    scope = f"{a}/us-east-1"
    out = run(settings(accounts=[a]), tmp_path)
    assert {o.status for o in out.values()} == {"ok"} and len(out) == 4
    assert estate.fake.calls[(a, "AssumeRole")] == 2  # once to plan, once for the job's four datasets

    ec2 = out[(scope, "aws__ec2_instances")]
    assert (ec2.rows, ec2.pages, ec2.requests) == (14, 13, 3)  # 13 reservations (one of two), 5 a call
    landed = rows(tmp_path, "aws__ec2_instances", scope)
    assert sorted(r["instance_id"] for r in landed) == sorted(estate.ec2_ids[(a, "us-east-1")])
    assert {r["account_id"] for r in landed} == {a} and {r["region"] for r in landed} == {"us-east-1"}
    assert len({r["reservation_id"] for r in landed}) == 13

    info = out[(scope, "aws__ssm_instance_information")]
    assert (info.rows, info.pages, info.requests) == (7, 3, 3)  # 7 instances, 3 a page

    # 4 Linux instances with 4 applications, 1 with none, 2 Windows with 7; services on Windows only. The
    # inventory reads the instances that instance_information listed: no listing of its own.
    apps, services = out[(scope, "aws__ssm_applications")], out[(scope, "aws__ssm_services")]
    app_pages = 4 * pages_of(APPS_LINUX) + pages_of(0) + 2 * pages_of(APPS_WINDOWS)
    assert (apps.rows, apps.pages, apps.requests) == (4 * APPS_LINUX + 2 * APPS_WINDOWS, app_pages, app_pages)
    assert (apps.pages, apps.requests) == (15, 15)
    assert (services.rows, services.pages, services.requests) == (2 * SERVICES_WINDOWS, 4, 4)
    assert estate.fake.calls[(a, "ListInventoryEntries")] == apps.pages + services.pages
    assert estate.fake.calls[(a, "DescribeInstanceInformation")] == info.requests  # listed once

    windows = {i["InstanceId"] for i in estate.managed[(a, "us-east-1")] if i["PlatformType"] == "Windows"}
    landed_services = rows(tmp_path, "aws__ssm_services", scope)
    assert {r["instance_id"] for r in landed_services} == windows
    capture = {r["instance_id"]: r["capture_time"] for r in rows(tmp_path, "aws__ssm_applications", scope)}
    assert len(capture) == 6
    assert {capture[i] for i in windows} == {datetime(2026, 11, 20, 2, tzinfo=UTC)}


def test_malformed_instance_is_rejected_and_a_vanished_one_skipped(estate: Estate, tmp_path: Path) -> None:
    a = estate.accounts["A"]
    scope = f"{a}/eu-west-1"
    out = run(settings(accounts=[a], regions=["eu-west-1"]), tmp_path)
    info = out[(scope, "aws__ssm_instance_information")]
    assert (info.status, info.rows, info.rejected_rows) == ("ok", 2, 1)
    rejected = rows(tmp_path, "rejected_records")
    assert [(r["dataset"], "i-0badbadbadbadbad0" in r["raw_json"]) for r in rejected] == [
        ("aws__ssm_instance_information", True)]
    apps = out[(scope, "aws__ssm_applications")]
    assert (apps.status, apps.rows) == ("ok", 4)  # the deregistered instance answered InvalidInstanceId
    assert estate.fake.calls[(a, "ListInventoryEntries")] == 3  # applications of 3; no services (Linux)


# ------------------------------------------------------------------------------------------- failures

def test_assume_role_denied_fails_every_dataset_of_that_account_only(estate: Estate, tmp_path: Path) -> None:
    a, c = estate.accounts["A"], estate.accounts["C"]
    estate.fake.add_fault(Fault("deny", operation="AssumeRole", account=c))
    config = settings(accounts=[a, c])
    assert [job.scope for job in aws.plan_jobs(config)] == [f"{a}/us-east-1", f"{c}/*"]

    estate.fake.reset()
    estate.fake.add_fault(Fault("deny", operation="AssumeRole", account=c))
    out = run(config, tmp_path)
    denied = [o for (scope, _), o in out.items() if scope == f"{c}/*"]
    assert len(denied) == 4
    assert {(o.status, o.error_class, o.rows) for o in denied} == {("failed", "AccessDenied", 0)}
    assert all("<aws-key-id>" in o.error_message and ACCESS_KEY not in o.error_message for o in denied)
    assert {o.status for (scope, _), o in out.items() if scope == f"{a}/us-east-1"} == {"ok"}
    runs = rows(tmp_path, "extract_runs")
    assert sorted((r["scope"], r["status"]) for r in runs if r["status"] == "failed") == [(f"{c}/*", "failed")] * 4


def test_ssm_access_denied_in_one_account_leaves_the_others(estate: Estate, tmp_path: Path) -> None:
    a, b = estate.accounts["A"], estate.accounts["B"]
    estate.fake.add_fault(Fault("deny", account=b))
    out = run(settings(accounts=[a, b]), tmp_path)
    assert {o.status for (scope, _), o in out.items() if scope.startswith(a)} == {"ok"}
    assert out[(f"{b}/us-east-1", "aws__ec2_instances")].rows == 6
    listing, *inventory = [out[(f"{b}/us-east-1", name)] for name in SSM_DATASETS]
    assert (listing.status, listing.error_class, listing.requests) == ("failed", "AccessDenied", 1)
    assert "ASIA" not in listing.error_message and "<aws-key-id>" in listing.error_message
    # without the list of managed instances, the inventory is not attempted, and fails the same way
    assert {(o.status, o.error_class, o.requests) for o in inventory} == {("failed", "AccessDenied", 0)}
    assert all("could not be listed" in o.error_message for o in inventory)
    assert estate.fake.calls[(b, "ListInventoryEntries")] == 0
    assert rows(tmp_path, "aws__ssm_applications", f"{b}/us-east-1") == []


def test_throttled_calls_are_retried_to_success(estate: Estate, tmp_path: Path) -> None:
    a = estate.accounts["A"]
    estate.fake.add_fault(Fault("throttle", operation="DescribeInstanceInformation", account=a, times=1))
    out = run(settings(accounts=[a]), tmp_path)
    info = out[(f"{a}/us-east-1", "aws__ssm_instance_information")]
    assert (info.status, info.rows, info.pages, info.requests) == ("ok", 7, 3, 3 + 1)
    assert {o.status for o in out.values()} == {"ok"}


def test_server_error_burst_exhausts_retries(estate: Estate, tmp_path: Path) -> None:
    a = estate.accounts["A"]
    estate.fake.add_fault(Fault("server_error", operation="DescribeInstanceInformation", account=a))
    out = run(settings(accounts=[a], max_attempts=2), tmp_path)
    listing, *inventory = [out[(f"{a}/us-east-1", name)] for name in SSM_DATASETS]
    # 2 SDK attempts x 2 extract_dataset attempts, nothing landed from the failed attempts
    assert (listing.status, listing.error_class, listing.requests, listing.rows) == ("failed", "ServerError", 4, 0)
    assert {(o.status, o.error_class, o.requests, o.rows) for o in inventory} == {("failed", "ServerError", 0, 0)}
    assert out[(f"{a}/us-east-1", "aws__ec2_instances")].status == "ok"
    assert rows(tmp_path, "aws__ssm_instance_information") == []


def test_slow_response_times_out_and_is_retried(estate: Estate, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    a = estate.accounts["A"]
    monkeypatch.setattr(aws, "READ_TIMEOUT_SECONDS", 0.5)
    estate.fake.add_fault(Fault("slow", operation="DescribeInstanceInformation", account=a, times=1, seconds=1.5))
    out = run(settings(accounts=[a]), tmp_path)
    info = out[(f"{a}/us-east-1", "aws__ssm_instance_information")]
    assert (info.status, info.rows, info.pages, info.requests) == ("ok", 7, 3, 3 + 1)


def test_secrets_never_reach_the_lake_outcomes_or_jobs(estate: Estate, tmp_path: Path) -> None:
    a, b, c = (estate.accounts[x] for x in "ABC")
    estate.fake.add_fault(Fault("deny", operation="AssumeRole", account=c))
    estate.fake.add_fault(Fault("deny", account=b))
    config = settings(accounts=[a, b, c], regions=["us-east-1", "eu-west-1"])
    jobs = aws.plan_jobs(config)
    out = run(config, tmp_path)
    secrets = [SECRET_KEY, *estate.fake.issued_secrets]
    assert len(secrets) > 1 and {o.status for o in out.values()} == {"ok", "failed"}
    texts = [pickle.dumps(jobs), json.dumps([vars(o) for o in out.values()], default=str).encode()]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes())
            if path.suffix == ".parquet":
                texts.append(json.dumps(pq.read_table(path).to_pylist(), default=str).encode())
    assert len(texts) > 10
    assert not [s for s in secrets for text in texts if s.encode() in text]


# ------------------------------------------------------------------------------------------- inventory shards

@pytest.mark.parametrize(("count", "size", "most", "expected"), [
    (0, 5, 16, []),
    (1, 5, 16, [1]),
    (5, 5, 16, [5]),
    (6, 5, 16, [3, 2, 1]),
    (7, 2, 16, [2, 2, 2, 1]),
    (11, 5, 16, [5, 3, 2, 1]),
    (7, 1, 3, [3, 2, 2]),  # capped: at most 3 shards, so larger ones
    (541, 200, 16, [200, 171, 85, 43, 42]),  # whole shards, then halves down to a quarter of the size
    (1000, 200, 16, [200, 200, 200, 200, 100, 50, 50]),
    (1000, 200, 5, [200] * 5),  # tapering would need 7: capped
    (100_000, 200, 16, [6250] * 16),
])
def test_inventory_shards_taper_and_cover_each_instance_once(
        count: int, size: int, most: int, expected: list[int]) -> None:
    instances = [(f"i-{n:017x}", "Windows" if n % 3 else "Linux") for n in range(count)]
    shards = aws.inventory_shards(instances, size, most)
    assert [len(shard) for shard in shards] == expected
    assert [instance for shard in shards for instance in shard] == instances  # once each, in listing order


def _landed(lake: Path, dataset: str) -> list[str]:
    """A dataset's landed rows without the run's own columns, comparable across runs."""
    return sorted(json.dumps({k: v for k, v in row.items() if k not in ("run_id", "extracted_at")}, default=str,
                             sort_keys=True) for row in rows(lake, dataset))


def test_a_large_account_region_hands_back_shards_that_land_what_one_job_lands(estate: Estate,
                                                                                 tmp_path: Path) -> None:
    a = estate.accounts["A"]
    scope = f"{a}/us-east-1"
    whole = run(settings(accounts=[a]), tmp_path / "whole")
    whole_calls = estate.fake.calls[(a, "ListInventoryEntries")]
    estate.fake.reset()

    outcomes, shards = run_all(settings(accounts=[a], inventory_shard_size=2), tmp_path / "shards")
    managed = [info["InstanceId"] for info in estate.managed[(a, "us-east-1")]]
    assert [(job.scope, job.part, len(job.params[aws.SHARD_INSTANCES])) for job in shards] == [
        (scope, "inventory 1/4", 2), (scope, "inventory 2/4", 2), (scope, "inventory 3/4", 2),
        (scope, "inventory 4/4", 1)]  # 7 managed instances, at most 2 a shard
    assert [i for job in shards for i, _ in job.params[aws.SHARD_INSTANCES]] == managed  # each exactly once
    assert all(pickle.loads(pickle.dumps(job)) == job for job in shards)  # they may run on a Dask worker

    for dataset in aws.DATASETS:
        assert _landed(tmp_path / "shards", dataset) == _landed(tmp_path / "whole", dataset), dataset
    by_dataset: dict[str, list[ExtractOutcome]] = {}
    for outcome in outcomes:
        by_dataset.setdefault(outcome.dataset, []).append(outcome)
    assert {name: len(found) for name, found in by_dataset.items()} == {
        "aws__ec2_instances": 1, "aws__ssm_instance_information": 1, "aws__ssm_applications": 4,
        "aws__ssm_services": 4}
    assert {(o.scope, o.status) for o in outcomes} == {(scope, "ok")}
    for name in aws.INVENTORY_TYPES:  # the same rows, pages and requests as one job, spread over shards
        one = whole[(scope, name)]
        assert (sum(o.rows for o in by_dataset[name]), sum(o.pages for o in by_dataset[name]),
                sum(o.requests for o in by_dataset[name])) == (one.rows, one.pages, one.requests)
    assert estate.fake.calls[(a, "ListInventoryEntries")] == whole_calls
    assert estate.fake.calls[(a, "DescribeInstanceInformation")] == 3  # listed once, 3 a page
    assert estate.fake.calls[(a, "AssumeRole")] == 1 + 1 + 4  # planning, the account-region job, each shard
    runs = rows(tmp_path / "shards", "extract_runs")
    assert sorted((r["scope"], r["dataset"]) for r in runs if r["dataset"] == "aws__ssm_applications") == [
        (scope, "aws__ssm_applications")] * 4


def test_inventory_max_shards_bounds_the_shards_of_one_region(estate: Estate, tmp_path: Path) -> None:
    a = estate.accounts["A"]
    _, shards = run_all(settings(accounts=[a], inventory_shard_size=1, inventory_max_shards=3), tmp_path)
    assert [(job.part, len(job.params[aws.SHARD_INSTANCES])) for job in shards] == [
        ("inventory 1/3", 3), ("inventory 2/3", 2), ("inventory 3/3", 2)]


def test_a_region_within_the_shard_size_reads_its_inventory_itself(estate: Estate, tmp_path: Path) -> None:
    a = estate.accounts["A"]
    outcomes, shards = run_all(settings(accounts=[a], inventory_shard_size=7), tmp_path)
    assert not shards and len(outcomes) == 4


def test_a_failed_shard_is_recorded_under_its_scope_and_the_other_shards_land(estate: Estate,
                                                                              tmp_path: Path) -> None:
    a = estate.accounts["A"]
    scope = f"{a}/us-east-1"
    estate.fake.add_fault(Fault("deny", operation="ListInventoryEntries", account=a, times=1))
    outcomes, shards = run_all(settings(accounts=[a], inventory_shard_size=2), tmp_path)
    failed = [o for o in outcomes if o.status == "failed"]
    assert [(o.scope, o.dataset, o.error_class, o.rows) for o in failed] == [
        (scope, "aws__ssm_applications", "AccessDenied", 0)]  # the first shard's first call was denied
    assert failed[0].error_message.startswith("inventory 1/4: ") and "<aws-key-id>" in failed[0].error_message
    assert len([o for o in outcomes if o.status == "ok"]) == 2 + 7  # the listings, the rest of the shards
    runs = rows(tmp_path, "extract_runs")
    assert [(r["scope"], r["dataset"]) for r in runs if r["status"] == "failed"] == [
        (scope, "aws__ssm_applications")]  # a failed shard fails its scope, as the models read it
    first = {i for i, _ in shards[0].params[aws.SHARD_INSTANCES]}
    landed = {r["instance_id"] for r in rows(tmp_path, "aws__ssm_applications")}
    with_apps = {i["InstanceId"] for i in estate.managed[(a, "us-east-1")][:4] + estate.managed[(a, "us-east-1")][5:]}
    assert landed == with_apps - first
    assert {r["instance_id"] for r in rows(tmp_path, "aws__ssm_services")} == {
        i["InstanceId"] for i in estate.managed[(a, "us-east-1")][5:]}


def test_a_shard_that_fails_transiently_retries_only_itself(estate: Estate, tmp_path: Path) -> None:
    a = estate.accounts["A"]
    whole = run(settings(accounts=[a]), tmp_path / "whole")
    estate.fake.reset()
    # 3 server errors exhaust the SDK's 3 attempts of the first shard's first call: extract_dataset retries
    estate.fake.add_fault(Fault("server_error", operation="ListInventoryEntries", account=a, times=3))
    outcomes, _ = run_all(settings(accounts=[a], inventory_shard_size=2), tmp_path / "shards")
    assert {o.status for o in outcomes} == {"ok"}
    apps = [o for o in outcomes if o.dataset == "aws__ssm_applications"]
    assert [o.requests - o.pages for o in apps] == [3, 0, 0, 0]  # only the first shard repeated anything
    for dataset in aws.DATASETS:
        assert _landed(tmp_path / "shards", dataset) == _landed(tmp_path / "whole", dataset), dataset
    assert sum(o.rows for o in apps) == whole[(f"{a}/us-east-1", "aws__ssm_applications")].rows


def test_inventory_shard_settings_are_validated() -> None:
    assert (AwsSettings().inventory_shard_size, AwsSettings().inventory_max_shards) == (200, 16)
    for bad in ({"inventory_shard_size": 0}, {"inventory_max_shards": 0}, {"inventory_shard_size": "many"}):
        with pytest.raises(ValidationError):
            AwsSettings(**bad)


# ------------------------------------------------------------------------------------------- timestamps

@pytest.mark.parametrize("value", [
    "2026-11-26T02:00:00.000Z", "2026-11-26T02:00:00Z", "2026-11-26T02:00:00.123456+02:00",
    "2026-11-26T02:00:00.1234567Z", "2026-11-26T02:00:00", "1764120000", "Wed, 26 Nov 2026 02:00:00 GMT",
    1764120000.5, 1764120000,
])
def test_timestamps_parse_as_botocore_parses_them(value: Any) -> None:
    ours, botocores = aws.parse_timestamp(value), botocore.utils.parse_timestamp(value)
    assert (ours, str(ours), ours.utcoffset()) == (botocores, str(botocores), botocores.utcoffset())


def test_the_fast_timestamp_parser_lands_what_botocores_lands(estate: Estate, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = settings(accounts=[estate.accounts["A"]])
    run(config, tmp_path / "ours")
    monkeypatch.setattr(aws, "parse_timestamp", botocore.utils.parse_timestamp)
    run(config, tmp_path / "botocore")
    assert rows(tmp_path / "ours", "aws__ec2_instances")[0]["launch_time"] is not None
    for dataset in aws.DATASETS:
        assert _landed(tmp_path / "ours", dataset) == _landed(tmp_path / "botocore", dataset), dataset


# ------------------------------------------------------------------------------------------- settings

def test_endpoint_url_setting_wins_over_the_environment(estate: Estate, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    a = estate.accounts["A"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:9")  # nothing listens there
    config = settings(accounts=[a], endpoint_url=estate.moto_url, max_attempts=1)
    out = run(config, tmp_path)
    assert out[(f"{a}/us-east-1", "aws__ec2_instances")].rows == 14
    assert "endpoint_url" not in aws._client_kwargs("us-east-1", AwsSettings())  # env vars stay in charge


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "DescribeInstances")


@pytest.mark.parametrize(("error", "expected"), [
    (_client_error("AccessDeniedException", 400), ("AccessDenied", False)),
    (_client_error("AccessDenied", 403), ("AccessDenied", False)),
    (_client_error("UnauthorizedOperation", 403), ("AccessDenied", False)),
    (_client_error("AuthFailure", 401), ("AccessDenied", False)),
    (_client_error("InvalidClientTokenId", 403), ("AccessDenied", False)),
    (_client_error("ExpiredToken", 400), ("AccessDenied", False)),
    (_client_error("ThrottlingException", 400), ("Throttled", True)),
    (_client_error("Throttling", 400), ("Throttled", True)),
    (_client_error("RequestLimitExceeded", 503), ("Throttled", True)),
    (_client_error("TooManyRequestsException", 429), ("Throttled", True)),
    (_client_error("InternalError", 500), ("ServerError", True)),
    (_client_error("ServiceUnavailable", 503), ("ServerError", True)),
    (_client_error("502", 502), ("ServerError", True)),
    (_client_error("ValidationException", 400), ("BadRequest", False)),
    (EndpointConnectionError(endpoint_url="https://ssm.example"), ("ConnectionError", True)),
    (ConnectTimeoutError(endpoint_url="https://ssm.example"), ("Timeout", True)),
    (ReadTimeoutError(endpoint_url="https://ssm.example"), ("Timeout", True)),
])
def test_botocore_errors_are_classified(error: BaseException, expected: tuple[str, bool]) -> None:
    info = classify(error)
    assert (info.error_class, info.transient) == expected
