"""The GCP connector against a local fake of Cloud Asset ``ListAssets`` (REST, camelCase JSON).

Every test pages (the fake caps pages at 2 assets), retries are made fast with a small ``RetryPolicy``
and a short api-core ``ApiRetry``, and nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth import exceptions as aexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import asset_v1
from google.protobuf import json_format

from flows.lake.writer import Landing, partition_dir
from flows.settings import GcpSettings, OutputSettings, Settings
from flows.sources import gcp
from flows.sources.base import RetryPolicy, ScopeJob, classify

try:
    from tests.fakes.cloudasset_server import CloudAssetFake
except ImportError:  # tests/ not a package: pytest put tests/ itself on sys.path
    from fakes.cloudasset_server import CloudAssetFake

DATA = Path(__file__).resolve().parents[1] / "data" / "gcp"
SNAPSHOT = date(2026, 11, 28)
FAST_RETRY = RetryPolicy(attempts=2, initial_seconds=0.01, max_seconds=0.02)
FAST_API = gcp.ApiRetry(initial_seconds=0.01, maximum_seconds=0.05, multiplier=2.0, deadline_seconds=0.5,
                        timeout_seconds=0.3)
INSTANCES, INVENTORIES = "gcp__compute_instances", "gcp__os_inventories"


# -- sample assets ---------------------------------------------------------------------------------------


def sample(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def _asset_name(project_id: str, zone: str, name: str) -> str:
    return f"//compute.googleapis.com/projects/{project_id}/zones/{zone}/instances/{name}"


def instance(i: int, project_id: str = "sc-vice-test", number: str = "163454223397",
             zone: str = "us-central1-a") -> dict[str, Any]:
    """The sample Instance asset, renamed ``vm-<i>`` in the given project."""
    asset = sample("instance_resource")
    name = f"vm-{i}"
    asset["name"] = _asset_name(project_id, zone, name)
    asset["ancestors"][0] = f"projects/{number}"
    asset["resource"]["parent"] = f"//cloudresourcemanager.googleapis.com/projects/{number}"
    data = asset["resource"]["data"]
    data.update(id=str(4486036186437800000 + i), name=name)
    data["networkInterfaces"][0]["networkIP"] = f"10.128.0.{i + 2}"
    return asset


def inventory(i: int, project_id: str = "sc-vice-test", number: str = "163454223397",
              zone: str = "us-central1-a", windows: bool = False) -> dict[str, Any]:
    """The sample OS inventory asset (Debian or Windows) of ``vm-<i>``."""
    asset = sample("os_inventory_windows" if windows else "os_inventory_linux")
    asset["name"] = _asset_name(project_id, zone, f"vm-{i}")
    asset["ancestors"][0] = f"projects/{number}"
    asset["osInventory"]["osInfo"]["hostname"] = f"vm-{i}"
    return asset


def seed(fake: CloudAssetFake, scope: str, count: int, **kwargs: Any) -> None:
    fake.add_assets(scope, "RESOURCE", [instance(i, **kwargs) for i in range(count)])
    fake.add_assets(scope, "OS_INVENTORY", [inventory(i, windows=i % 2 == 1, **kwargs) for i in range(count)])


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[CloudAssetFake]:
    with CloudAssetFake(max_page_size=2) as server:
        yield server


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path / "lake", SNAPSHOT)


def settings_for(fake: CloudAssetFake, *scopes: str, page_size: int = 500) -> Settings:
    return Settings(gcp=GcpSettings(scopes=list(scopes), api_endpoint=fake.endpoint, page_size=page_size),
                    output=OutputSettings(data_dir=Path("unused")))


def run(job_scope: str, landing: Landing, settings: Settings, api_retry: gcp.ApiRetry = FAST_API,
        retry: RetryPolicy = FAST_RETRY) -> dict[str, Any]:
    outcomes = gcp.extract_job(ScopeJob("gcp", job_scope), landing, settings, retry, api_retry=api_retry)
    return {o.dataset: o for o in outcomes}


def read_partition(landing: Landing, dataset: str) -> pa.Table:
    return pq.read_table(partition_dir(landing.lake_root, dataset, SNAPSHOT))


# -- planning ----------------------------------------------------------------------------------------------


def test_plan_jobs_one_job_per_scope_labelled_with_the_scope(fake: CloudAssetFake) -> None:
    settings = settings_for(fake, "projects/alpha", "folders/5432", "organizations/1234", "projects/alpha")
    jobs = gcp.plan_jobs(settings)
    assert [(j.cloud, j.scope) for j in jobs] == [
        ("gcp", "projects/alpha"), ("gcp", "folders/5432"), ("gcp", "organizations/1234")]
    assert fake.requests == []  # planning calls nothing


# -- paging ------------------------------------------------------------------------------------------------


def test_pages_both_content_types(fake: CloudAssetFake, landing: Landing) -> None:
    seed(fake, "projects/sc-vice-test", 5)
    settings = settings_for(fake, "projects/sc-vice-test", page_size=50)
    outcomes = run("projects/sc-vice-test", landing, settings)

    for dataset in (INSTANCES, INVENTORIES):
        o = outcomes[dataset]
        assert (o.status, o.rows, o.rejected_rows, o.pages, o.requests) == ("ok", 5, 0, 3, 3), o
        assert (o.source, o.cloud, o.scope) == ("gcp", "gcp", "projects/sc-vice-test")

    # one contentType per call sequence, sent as the enum number the REST client uses; tokens followed
    for content_type, number in (("RESOURCE", "1"), ("OS_INVENTORY", "6")):
        seen = fake.requests_for("projects/sc-vice-test", content_type)
        assert len(seen) == 3
        assert {r.query["contentType"][0] for r in seen} == {number}
        assert all(r.asset_types == ["compute.googleapis.com/Instance"] for r in seen)
        assert all(r.page_size == 50 for r in seen)
        assert [r.page_token is None for r in seen] == [True, False, False]
        assert len({r.page_token for r in seen}) == 3
        assert all(r.status == 200 for r in seen)


def test_empty_scope_is_one_empty_page(fake: CloudAssetFake, landing: Landing) -> None:
    outcomes = run("folders/999", landing, settings_for(fake, "folders/999"))
    for o in outcomes.values():
        assert (o.status, o.rows, o.pages, o.requests) == ("ok", 0, 1, 1)


# -- failures and retries ------------------------------------------------------------------------------------


def test_access_denied_on_one_scope_leaves_the_other_intact(fake: CloudAssetFake, landing: Landing) -> None:
    seed(fake, "projects/alpha", 3, project_id="alpha", number="111")
    seed(fake, "folders/5432", 3, project_id="beta", number="222")
    fake.fail(403, parent="folders/5432", message="The caller does not have permission")
    settings = settings_for(fake, "projects/alpha", "folders/5432")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(["projects/alpha", "folders/5432"],
                           pool.map(lambda job: run(job.scope, landing, settings), gcp.plan_jobs(settings)),
                           strict=True))

    for o in results["projects/alpha"].values():
        assert (o.status, o.rows, o.error_class) == ("ok", 3, None)
    for o in results["folders/5432"].values():
        assert (o.status, o.error_class, o.rows, o.pages) == ("failed", "AccessDenied", 0, 0)
        assert o.requests == 1  # permanent: neither api-core nor the dataset retry sends it again
        assert "403" in o.error_message and "permission" in o.error_message
    assert len(landing.outcomes) == 4

    landing.commit()
    instances = read_partition(landing, INSTANCES)
    assert set(instances.column("scope").to_pylist()) == {"projects/alpha"}
    runs = read_partition(landing, "extract_runs").to_pylist()
    assert {(r["scope"], r["dataset"], r["status"]) for r in runs} == {
        ("projects/alpha", INSTANCES, "ok"), ("projects/alpha", INVENTORIES, "ok"),
        ("folders/5432", INSTANCES, "failed"), ("folders/5432", INVENTORIES, "failed")}


def test_throttling_is_retried_inside_the_page_request(fake: CloudAssetFake, landing: Landing) -> None:
    seed(fake, "projects/sc-vice-test", 5)
    fake.fail(429, times=2, content_type="RESOURCE", headers={"Retry-After": "1"},
              message="Quota exceeded for quota metric 'List Assets requests'")
    outcomes = run("projects/sc-vice-test", landing, settings_for(fake, "projects/sc-vice-test"))

    o = outcomes[INSTANCES]
    assert (o.status, o.rows, o.pages) == ("ok", 5, 3)
    assert o.requests == o.pages + 2 > o.pages
    assert [r.status for r in fake.requests_for(content_type="RESOURCE")] == [429, 429, 200, 200, 200]
    assert outcomes[INVENTORIES].requests == outcomes[INVENTORIES].pages == 3


def test_retry_after_is_honoured_up_to_the_cap(fake: CloudAssetFake, landing: Landing) -> None:
    seed(fake, "projects/p", 1)
    fake.fail(429, times=2, content_type="RESOURCE", headers={"Retry-After": "0.2"})
    api = gcp.ApiRetry(initial_seconds=0.001, maximum_seconds=0.3, deadline_seconds=5, timeout_seconds=2)
    started = time.monotonic()
    outcomes = run("projects/p", landing, settings_for(fake, "projects/p"), api_retry=api)
    assert outcomes[INSTANCES].status == "ok"
    assert time.monotonic() - started >= 0.4

    class Err:  # an api-core error carries the requests.Response it came from
        response = requests.Response()

    Err.response.headers["Retry-After"] = "7"
    assert gcp.retry_after_seconds(Err()) == 7.0
    Err.response.headers["Retry-After"] = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert gcp.retry_after_seconds(Err()) == 0.0
    assert gcp.retry_after_seconds(ValueError("no response")) is None


def test_a_server_error_burst_that_outlasts_the_retries_fails_the_dataset(
        fake: CloudAssetFake, landing: Landing) -> None:
    seed(fake, "projects/sc-vice-test", 3)
    fake.fail(503, content_type="OS_INVENTORY", message="The service is currently unavailable.")
    outcomes = run("projects/sc-vice-test", landing, settings_for(fake, "projects/sc-vice-test"))

    assert outcomes[INSTANCES].status == "ok"
    o = outcomes[INVENTORIES]
    assert (o.status, o.rows, o.pages) == ("failed", 0, 0)
    assert o.error_class in ("ServerError", "Timeout")
    assert "503" in o.error_message
    # api-core retried inside each of the two dataset attempts
    assert o.requests == len(fake.requests_for(content_type="OS_INVENTORY")) > FAST_RETRY.attempts
    landing.commit()
    assert read_partition(landing, INVENTORIES).num_rows == 0


def test_a_slow_response_times_out_and_is_retried(fake: CloudAssetFake, landing: Landing) -> None:
    seed(fake, "projects/sc-vice-test", 3)
    fake.fail(delay=1.0, times=1, content_type="RESOURCE")  # longer than FAST_API.timeout_seconds
    outcomes = run("projects/sc-vice-test", landing, settings_for(fake, "projects/sc-vice-test"))
    o = outcomes[INSTANCES]
    assert (o.status, o.rows, o.pages, o.requests) == ("ok", 3, 2, 3)


def test_a_server_that_never_answers_in_time_is_a_timeout(fake: CloudAssetFake, landing: Landing) -> None:
    seed(fake, "projects/sc-vice-test", 1)
    fake.fail(delay=0.6, content_type="RESOURCE")
    api = gcp.ApiRetry(initial_seconds=0.01, maximum_seconds=0.02, deadline_seconds=0.3, timeout_seconds=0.15)
    settings = settings_for(fake, "projects/sc-vice-test")
    outcomes = run("projects/sc-vice-test", landing, settings, api_retry=api)
    o = outcomes[INSTANCES]
    assert (o.status, o.error_class) == ("failed", "Timeout")
    assert o.requests >= 2
    assert outcomes[INVENTORIES].status == "ok"


def test_a_malformed_asset_is_rejected_not_fatal(fake: CloudAssetFake, landing: Landing) -> None:
    seed(fake, "projects/sc-vice-test", 3)
    broken = instance(9)
    del broken["resource"]["data"]  # a resource without data
    fake.add_assets("projects/sc-vice-test", "RESOURCE", [broken])
    outcomes = run("projects/sc-vice-test", landing, settings_for(fake, "projects/sc-vice-test"))

    o = outcomes[INSTANCES]
    assert (o.status, o.rows, o.rejected_rows, o.pages) == ("ok", 3, 1, 2)
    landing.commit()
    rejects = read_partition(landing, "rejected_records").to_pylist()
    assert len(rejects) == 1
    assert rejects[0]["dataset"] == INSTANCES and "KeyError" in rejects[0]["error"]
    assert json.loads(rejects[0]["raw_json"])["name"].endswith("/instances/vm-9")


# -- endpoint and credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["http://10.20.30.40:8080", "http://cloudasset.internal.example.com",
                                      "HTTP://192.168.1.5"])
def test_a_non_loopback_http_endpoint_is_refused(endpoint: str, landing: Landing) -> None:
    settings = Settings(gcp=GcpSettings(scopes=["projects/p"], api_endpoint=endpoint))
    with pytest.raises(gcp.InsecureEndpointError, match="non-loopback"):
        gcp.plan_jobs(settings)
    with pytest.raises(gcp.InsecureEndpointError):
        gcp.extract_job(ScopeJob("gcp", "projects/p"), landing, settings, FAST_RETRY, api_retry=FAST_API)
    assert landing.outcomes == []
    assert classify(gcp.InsecureEndpointError("x")).error_class == "ConfigError"


@pytest.mark.parametrize(("endpoint", "anonymous"), [
    ("http://127.0.0.1:8080", True), ("http://localhost:1", True), ("http://[::1]:9", True),
    ("http://127.0.0.2", True), ("https://cloudasset.googleapis.com", False),
    ("https://cloudasset-psc.p.googleapis.com", False), ("private.googleapis.com", False), (None, False)])
def test_loopback_http_endpoints_are_anonymous(endpoint: str | None, anonymous: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    adc_calls = []

    def fake_default(scopes: list[str] | None = None, **_: Any) -> tuple[object, str]:
        adc_calls.append(scopes)
        return "adc-credentials", "some-project"

    monkeypatch.setattr(gcp.google.auth, "default", fake_default)
    assert gcp.endpoint_is_anonymous(endpoint) is anonymous
    credentials = gcp.credentials_for(endpoint)
    if anonymous:
        assert isinstance(credentials, AnonymousCredentials) and adc_calls == []
    else:
        assert credentials == "adc-credentials"
        assert adc_calls == [["https://www.googleapis.com/auth/cloud-platform"]]


def test_missing_adc_is_a_failed_outcome_not_a_crash(landing: Landing,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def no_adc(**_: Any) -> None:
        raise aexc.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(gcp.google.auth, "default", no_adc)
    settings = Settings(gcp=GcpSettings(scopes=["projects/p"], api_endpoint="https://127.0.0.1:1"))
    outcomes = run("projects/p", landing, settings)
    assert [(o.status, o.error_class, o.requests) for o in outcomes.values()] == [
        ("failed", "CredentialsError", 0)] * 2


# -- error classes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("exc", "expected"), [
    (gexc.PermissionDenied("denied"), ("AccessDenied", False)),
    (gexc.Forbidden("denied"), ("AccessDenied", False)),
    (gexc.Unauthenticated("who"), ("AccessDenied", False)),
    (gexc.Unauthorized("who"), ("AccessDenied", False)),
    (gexc.NotFound("gone"), ("NotFound", False)),
    (gcp.NotAPageError("html"), ("BadResponse", True)),
    (gexc.InvalidArgument("bad"), ("BadRequest", False)),
    (gexc.BadRequest("bad"), ("BadRequest", False)),
    (gexc.TooManyRequests("slow down"), ("Throttled", True)),
    (gexc.ResourceExhausted("quota"), ("Throttled", True)),
    (gexc.ServiceUnavailable("down"), ("ServerError", True)),
    (gexc.InternalServerError("oops"), ("ServerError", True)),
    (gexc.BadGateway("proxy"), ("ServerError", True)),
    (gexc.GatewayTimeout("proxy"), ("ServerError", True)),
    (gexc.DeadlineExceeded("late"), ("Timeout", True)),
    (gexc.RetryError("Timeout of 180.0s exceeded", cause=gexc.ServiceUnavailable("down")), ("Timeout", True)),
    (gexc.RetryError("Timeout of 180.0s exceeded", cause=None), ("Timeout", True)),
    (requests.exceptions.ReadTimeout("read timed out"), ("Timeout", True)),
    (requests.exceptions.ConnectTimeout("connect timed out"), ("Timeout", True)),
    (requests.exceptions.ConnectionError("reset"), ("ConnectionError", True)),
    (aexc.DefaultCredentialsError("none"), ("CredentialsError", False)),
    (aexc.RefreshError("invalid_grant"), ("CredentialsError", False)),
])
def test_error_classes(exc: BaseException, expected: tuple[str, bool]) -> None:
    info = classify(exc)
    assert (info.error_class, info.transient) == expected


# -- proto -> JSON and typed columns -------------------------------------------------------------------------


def _page_response(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    return response


def test_the_hook_keeps_the_assets_and_leaves_the_sdk_the_page_token() -> None:
    hook = gcp.RawAssetPages()
    asset = sample("instance_resource")
    response = _page_response(200, json.dumps({"assets": [asset], "nextPageToken": "t2",
                                               "readTime": "2024-05-01T10:00:00Z"}).encode())
    assert hook(response) is response
    assert json.loads(response.content) == {"nextPageToken": "t2"}  # all the SDK parses now
    parsed = asset_v1.ListAssetsResponse()
    json_format.Parse(response.content, asset_v1.ListAssetsResponse.pb(parsed))
    assert parsed.next_page_token == "t2"
    assert hook.take() == [asset]  # the JSON as sent: Struct numbers stay ints
    with pytest.raises(RuntimeError):
        hook.take()  # a page is taken once

    last = _page_response(200, b'{"readTime": "2024-05-01T10:00:00Z"}')  # an empty last page
    hook(last)
    assert json.loads(last.content) == {} and hook.take() == []


@pytest.mark.parametrize("status", [301, 400, 403, 429, 500, 503])
def test_the_hook_passes_failed_answers_to_the_sdk_untouched(status: int) -> None:
    hook = gcp.RawAssetPages()
    body = b'{"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}'
    response = _page_response(status, body)
    assert hook(response) is None and response.content == body
    with pytest.raises(RuntimeError):
        hook.take()


@pytest.mark.parametrize("body", [b"<html>proxy error</html>", b"[1, 2]", b'{"assets": {"a": 1}}'])
def test_a_2xx_body_that_is_not_a_page_fails(body: bytes) -> None:
    with pytest.raises(gcp.NotAPageError):
        gcp.RawAssetPages()(_page_response(200, body))


def test_a_2xx_answer_that_is_not_a_page_fails_that_dataset_only(fake: CloudAssetFake, landing: Landing) -> None:
    seed(fake, "projects/sc-vice-test", 3)
    fake.fail(body=b"<html>captive portal</html>", content_type="RESOURCE")
    outcomes = run("projects/sc-vice-test", landing, settings_for(fake, "projects/sc-vice-test"))
    instances = outcomes[INSTANCES]
    assert (instances.status, instances.rows, instances.error_class) == ("failed", 0, "BadResponse")
    assert "answered 200 with a body that is not JSON (application/json" in instances.error_message
    assert instances.requests == FAST_RETRY.attempts  # retried from the first page, then given up
    assert (outcomes[INVENTORIES].status, outcomes[INVENTORIES].rows) == ("ok", 3)


def test_inventory_enums_sent_as_numbers_land_as_names() -> None:
    asset = sample("os_inventory_linux")
    items = asset["osInventory"]["items"]
    bash = items["installedPackage-bash:amd64:5.2.15-2+b2"]
    assert bash["type"] == "INSTALLED_PACKAGE" and bash["originType"] == "INVENTORY_REPORT"
    numbered = copy.deepcopy(asset)
    for item in numbered["osInventory"]["items"].values():
        item["type"] = {"INSTALLED_PACKAGE": 1, "AVAILABLE_PACKAGE": 2}[item["type"]]
        item["originType"] = 1
    assert gcp.named_enums(numbered) == asset
    unknown = {"osInventory": {"items": {"x": {"type": 7, "originType": 0}, "y": "not an item"}}}
    assert gcp.named_enums(unknown) == {"osInventory": {"items": {
        "x": {"type": 7, "originType": "ORIGIN_TYPE_UNSPECIFIED"}, "y": "not an item"}}}
    for odd in (None, "text", [1], {"osInventory": None}, {"osInventory": "text"}, {"osInventory": {"items": [1]}}):
        assert gcp.named_enums(copy.deepcopy(odd)) == odd  # left for the record extractor to reject


def test_offset_timestamps_land_in_utc() -> None:
    from flows.records.gcp import to_compute_instance_row

    row = to_compute_instance_row(sample("instance_resource"))
    assert row["creation_timestamp"] == datetime(2021, 4, 22, 20, 51, 49, 576000, tzinfo=UTC)  # -07:00
    assert row["last_start_timestamp"] == datetime(2022, 5, 26, 8, 44, 52, 756000, tzinfo=UTC)
    assert row["last_stop_timestamp"] == datetime(2022, 5, 26, 1, 0, 1, 123000, tzinfo=UTC)


def test_landed_parquet_has_typed_columns(fake: CloudAssetFake, landing: Landing) -> None:
    fake.add_assets("projects/sc-vice-test", "RESOURCE",
                    [sample("instance_resource"), instance(1), instance(2)])
    fake.add_assets("projects/sc-vice-test", "OS_INVENTORY",
                    [sample("os_inventory_linux"), sample("os_inventory_windows")])
    outcomes = run("projects/sc-vice-test", landing, settings_for(fake, "projects/sc-vice-test"))
    assert all(o.status == "ok" for o in outcomes.values())
    landing.commit()

    instances = read_partition(landing, INSTANCES)
    assert instances.schema.field("creation_timestamp").type == pa.timestamp("us", tz="UTC")
    row = next(r for r in instances.to_pylist() if r["instance_name"] == "instance-1")
    assert row["project_id"] == "sc-vice-test"  # the asset name uses the project id...
    assert row["project_number"] == "163454223397"  # ...the ancestors the project number
    assert row["instance_id"] == "4486036186437803787"
    assert row["zone"] == "us-central1-a" and row["machine_type"] == "e2-medium"
    assert row["status"] == "RUNNING" and row["private_ip_address"] == "10.128.0.2"
    assert row["boot_licenses"] == "debian-10-buster"
    assert row["creation_timestamp"] is not None  # its value: see test_offset_timestamps_land_in_utc
    assert row["update_time"] == datetime(2021, 4, 22, 20, 51, 50, 801629, tzinfo=UTC)
    assert json.loads(row["labels_json"]) == {"env": "prod", "edrcov-exempt": "appliance"}
    raw = json.loads(row["raw_json"])
    assert raw["resource"]["data"]["disks"][0]["index"] == 0  # a Struct number, back to an int
    assert raw == sample("instance_resource")
    assert row["scope"] == "projects/sc-vice-test" and row["run_id"] == landing.run_id

    inventories = {r["instance_name"]: r for r in read_partition(landing, INVENTORIES).to_pylist()}
    windows, linux = inventories["win-app-1"], inventories["instance-1"]
    assert windows["os_short_name"] == "windows" and windows["project_id"] == "sc-vice-test"
    assert windows["inventory_update_time"] == datetime(2024, 5, 1, 9, 40, 2, 120001, tzinfo=UTC)
    packages = {p["name"]: p for p in windows["packages"]}
    assert packages["Google Chrome"] == {"item_id": "installedPackage-Google Chrome:124.0.6367.119",
                                         "kind": "windowsApplication", "name": "Google Chrome",
                                         "version": "124.0.6367.119", "publisher": "Google LLC"}
    assert packages["CrowdStrike Windows Sensor"]["publisher"] == "CrowdStrike, Inc."
    assert packages["KB5036909"]["kind"] == "qfePackage"
    assert {p["name"] for p in linux["packages"]} == {"bash", "falcon-sensor"}  # not the available openssl
    assert linux["osconfig_agent_version"] == "20240320.00-g1"
    raw_windows = json.loads(windows["raw_json"])
    chrome = raw_windows["osInventory"]["items"]["installedPackage-Google Chrome:124.0.6367.119"]
    install_date = chrome["installedPackage"]["windowsApplication"]["installDate"]
    assert install_date == {"year": 2024, "month": 4, "day": 30}  # a google.type.Date object
    assert raw_windows == sample("os_inventory_windows")  # served with numbered enums, landed with names
    raw_linux = json.loads(linux["raw_json"])
    openssl = raw_linux["osInventory"]["items"]["availablePackage-openssl:amd64:3.0.13-1~deb12u1"]
    assert openssl["type"] == "AVAILABLE_PACKAGE"

    runs = read_partition(landing, "extract_runs").to_pylist()
    assert sorted((r["dataset"], r["rows"], r["pages"], r["requests"]) for r in runs) == [
        (INSTANCES, 3, 2, 2), (INVENTORIES, 2, 1, 1)]
