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
import duckdb
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from flows.lake.writer import ExtractOutcome, Landing, partition_dir
from flows.settings import AwsSettings, Settings
from flows.sources import aws
from flows.sources.base import RetryPolicy, classify
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


def run(config: Settings, lake: Path) -> dict[tuple[str, str], ExtractOutcome]:
    """Plan, extract every job, commit; outcomes by (scope, dataset)."""
    landing = Landing(lake, SNAPSHOT)
    outcomes = [o for job in aws.plan_jobs(config) for o in aws.extract_job(job, landing, config, retry=FAST)]
    landing.commit()
    return {(o.scope, o.dataset): o for o in outcomes}


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

    # 4 Linux instances with 4 applications, 1 with none, 2 Windows with 7; services on Windows only.
    apps, services = out[(scope, "aws__ssm_applications")], out[(scope, "aws__ssm_services")]
    app_pages = 4 * pages_of(APPS_LINUX) + pages_of(0) + 2 * pages_of(APPS_WINDOWS)
    assert (apps.rows, apps.pages, apps.requests) == (4 * APPS_LINUX + 2 * APPS_WINDOWS, app_pages, app_pages + 3)
    assert (apps.pages, apps.requests) == (15, 18)
    assert (services.rows, services.pages, services.requests) == (2 * SERVICES_WINDOWS, 4, 4 + 3)
    assert estate.fake.calls[(a, "ListInventoryEntries")] == apps.pages + services.pages

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
    failed = [out[(f"{b}/us-east-1", name)] for name in SSM_DATASETS]
    assert {(o.status, o.error_class, o.requests) for o in failed} == {("failed", "AccessDenied", 1)}
    assert all("ASIA" not in o.error_message and "<aws-key-id>" in o.error_message for o in failed)
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
    failed = [out[(f"{a}/us-east-1", name)] for name in SSM_DATASETS]
    # 2 SDK attempts x 2 extract_dataset attempts, nothing landed from the failed attempts
    assert {(o.status, o.error_class, o.requests, o.rows) for o in failed} == {("failed", "ServerError", 4, 0)}
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
