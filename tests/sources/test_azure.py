"""The Azure connector against a local fake of Resource Graph and the Log Analytics query API.

Every Resource Graph test pages (the fake caps pages at 2 rows), retries are made fast (a small
``RetryPolicy`` and a fast azure-core ``HttpTuning``), credentials are the anonymous loopback token, and
nothing leaves 127.0.0.1. Landed data is always read back from Parquet after ``landing.commit()``.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
)

from flows.lake.writer import ExtractOutcome, Landing
from flows.settings import AzureSettings, Settings
from flows.sources import azure, azure_http
from flows.sources.base import RetryPolicy, ScopeJob, classify

try:
    from tests.fakes.azure_server import AzureFake
except ImportError:  # tests/ not a package: pytest put tests/ itself on sys.path
    from fakes.azure_server import AzureFake

DATA = Path(__file__).resolve().parents[1] / "data" / "azure"
SEEDS = Path(__file__).resolve().parents[2] / "sql" / "seeds" / "defender_assessments.csv"
SNAPSHOT = date(2026, 11, 28)
FAST_RETRY = RetryPolicy(attempts=2, initial_seconds=0.01, max_seconds=0.02)
FAST_HTTP = azure_http.HttpTuning(retry_total=3, retry_backoff_factor=0.01, retry_backoff_max=0.05,
                                  connection_timeout=5, read_timeout=5, max_quota_wait=5,
                                  log_analytics_read_timeout=5)
TEMPLATE_SUB = "00000000-0000-0000-0000-000000000000"
TOKEN = azure_http.AnonymousLoopbackCredential.TOKEN
VMS, ARCS, EXTENSIONS = "azure__virtual_machines", "azure__arc_machines", "azure__machine_extensions"
PRICINGS, CONNECTORS, ASSESSMENTS = "azure__security_pricings", "azure__security_connectors", \
    "azure__security_assessments"
CHANGES = "azure__change_tracking"
GRAPH_DATASETS = list(azure.QUERIES)


def sub(i: int) -> str:
    return f"{i:08d}-1111-4222-8333-{i:012d}"


# -- sample rows -----------------------------------------------------------------------------------------


def sample(name: str, subscription: str = TEMPLATE_SUB, n: int = 0, **renames: str) -> Any:
    """A sample payload moved to ``subscription`` with machine names suffixed by ``n``."""
    text = (DATA / f"{name}.json").read_text(encoding="utf-8").replace(TEMPLATE_SUB, subscription)
    for old, new in {"CLOUDBEATVM": f"CLOUDBEATVM{n}", "cloudbeatVM": f"cloudbeatVM{n}",
                     "cloudbeatvm": f"cloudbeatvm{n}", "i-0971002a9c4e76ef4": f"i-0971002a9c4e7{n:04d}",
                     **renames}.items():
        text = text.replace(old, new)
    return json.loads(text)


def estate(subscription: str, machines: int = 3) -> list[dict[str, Any]]:
    """Enough rows of every Resource Graph dataset in one subscription that each one pages (pages of 2)."""
    rows: list[dict[str, Any]] = []
    for n in range(machines):
        rows += [sample("virtual_machine", subscription, n), sample("arc_machine", subscription, n),
                 sample("vm_extension", subscription, n), sample("arc_extension", subscription, n),
                 sample("security_assessment", subscription, n)]
    # an assessment that is not an EDR one: the query must not ask for it
    rows.append(sample("security_assessment", subscription, 99,
                       **{"06e3a6db-6c0c-4ad9-943f-31d9d73ecf6c": "4fb67663-9ab9-475d-b026-8c544cced439"}))
    for plan in ("VirtualMachines", "SqlServers", "StorageAccounts"):
        rows.append(sample("security_pricing", subscription, VirtualMachines=plan))
    for account in ("713881823023", "713881823024", "713881823025"):
        rows.append(sample("security_connector", subscription, **{"713881823023": account}))
    return rows


def expected_counts(machines: int = 3) -> dict[str, int]:
    return {VMS: machines, ARCS: machines, EXTENSIONS: 2 * machines, PRICINGS: 3, CONNECTORS: 3,
            ASSESSMENTS: machines}


# -- fixtures and helpers --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(azure_http, "TUNING", FAST_HTTP)


@pytest.fixture
def fake() -> Iterator[AzureFake]:
    with AzureFake(max_page_size=2) as server:
        yield server


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path / "lake", SNAPSHOT)


def settings_for(fake: AzureFake, **azure_kwargs: Any) -> Settings:
    azure_kwargs.setdefault("page_size", 1000)
    return Settings(azure=AzureSettings(resource_manager_url=fake.url, log_analytics_endpoint=fake.url + "/v1",
                                        credential="anonymous", **azure_kwargs))


def run(settings: Settings, landing: Landing, kinds: tuple[str, ...] = (azure.RESOURCE_GRAPH,)
        ) -> list[ExtractOutcome]:
    outcomes: list[ExtractOutcome] = []
    for job in azure.plan_jobs(settings):
        if job.params["kind"] in kinds:
            outcomes += azure.extract_job(job, landing, settings, FAST_RETRY)
    return outcomes


def by(outcomes: list[ExtractOutcome], dataset: str | None = None, scope: str | None = None
       ) -> list[ExtractOutcome]:
    return [o for o in outcomes if (dataset is None or o.dataset == dataset) and (scope is None or o.scope == scope)]


def landed(landing: Landing, dataset: str) -> list[dict[str, Any]]:
    """Rows of a committed dataset, read back from its Parquet files."""
    folder = landing.lake_root / "raw" / dataset
    if not list(folder.glob("snapshot_date=*/*.parquet")):
        return []
    con = duckdb.connect()
    try:
        table = con.sql(f"select * from read_parquet('{folder}/snapshot_date=*/*.parquet', "
                        f"hive_partitioning=true)").to_arrow_table()
    finally:
        con.close()
    return table.to_pylist()


# -- planning --------------------------------------------------------------------------------------------


def test_plan_chunks_subscriptions_and_labels_scopes(fake: AzureFake) -> None:
    subs = [sub(i) for i in range(1, 6)]
    settings = settings_for(fake, subscriptions=[s.upper() for s in subs] + [subs[0]], subscriptions_per_query=2,
                            workspaces=["ws-a", "ws-b"])
    jobs = azure.plan_jobs(settings)
    graph = [j for j in jobs if j.params["kind"] == azure.RESOURCE_GRAPH]
    assert [j.scope for j in graph] == [f"{subs[0]}+1", f"{subs[2]}+1", subs[4]]  # lower-cased, deduplicated
    assert [j.params["subscriptions"] for j in graph] == [subs[0:2], subs[2:4], subs[4:5]]
    assert [j.scope for j in jobs if j.params["kind"] == azure.LOG_ANALYTICS] == ["workspace:ws-a",
                                                                                 "workspace:ws-b"]

    tenant = azure.plan_jobs(settings_for(fake))
    assert [(j.scope, j.params["kind"]) for j in tenant] == [("*", azure.RESOURCE_GRAPH),
                                                            (azure.NO_WORKSPACE_SCOPE, azure.LOG_ANALYTICS)]
    assert azure.plan_jobs(Settings()) == []


def test_assessment_keys_match_the_seed() -> None:
    with SEEDS.open(encoding="utf-8") as handle:
        keys = {row["assessment_key"] for row in csv.DictReader(handle)}
    assert set(azure.EDR_ASSESSMENT_KEYS) == keys
    for key in keys:
        assert key in azure.QUERIES[ASSESSMENTS]


# -- Resource Graph --------------------------------------------------------------------------------------


def test_every_dataset_pages_and_lands(fake: AzureFake, landing: Landing) -> None:
    s1, s2 = sub(1), sub(2)
    fake.add_resources(estate(s1) + estate(s2))
    outcomes = run(settings_for(fake, subscriptions=[s1, s2]), landing)
    landing.commit()

    assert {(o.dataset, o.scope, o.status) for o in outcomes} == {(d, f"{s1}+1", "ok") for d in GRAPH_DATASETS}
    for dataset, count in expected_counts().items():
        outcome = by(outcomes, dataset)[0]
        assert outcome.rows == 2 * count, dataset
        assert outcome.pages == -(-2 * count // 2) >= 3, dataset  # pages of 2 rows
        probe = 1 if dataset == VMS else 0  # the visibility probe is counted on the first dataset
        assert outcome.requests == outcome.pages + probe, dataset
        rows = landed(landing, dataset)
        assert len(rows) == 2 * count
        assert {r["subscription_id"] for r in rows} == {s1, s2}
        assert {r["scope"] for r in rows} == {f"{s1}+1"}
        # pages followed $skipToken with the same query, scopes, $top and resultFormat
        seen = fake.graph_requests(azure.QUERIES[dataset])
        assert len(seen) == outcome.pages
        assert seen[0].skip_token is None and all(r.skip_token for r in seen[1:])
        assert all(r.body["subscriptions"] == [s1, s2] for r in seen)
        assert all(r.body["options"]["$top"] == 1000 and r.body["options"]["resultFormat"] == "objectArray"
                   for r in seen)
        assert all(r.params["api-version"] == ["2021-03-01"] for r in seen)

    vms = {r["name"]: r for r in landed(landing, VMS)}
    assert vms["cloudbeatVM0"]["power_state_code"] == "PowerState/running"
    assert vms["cloudbeatVM0"]["os_type"] == "Linux"
    assert {r["assessment_key"] for r in landed(landing, ASSESSMENTS)} == {"06e3a6db-6c0c-4ad9-943f-31d9d73ecf6c"}
    assert {r["servers_sub_plan"] for r in landed(landing, CONNECTORS)} == {"P2"}
    assert json.loads(landed(landing, ARCS)[0]["raw_json"])["properties"]["cloudMetadata"] == {"provider": "AWS"}


def test_subscription_chunks_one_query_per_dataset_each(fake: AzureFake, landing: Landing) -> None:
    subs = [sub(i) for i in range(1, 6)]
    for s in subs:
        fake.add_resources(estate(s, machines=1))
    outcomes = run(settings_for(fake, subscriptions=subs, subscriptions_per_query=2), landing)

    assert all(o.status == "ok" for o in outcomes) and len(outcomes) == 3 * len(GRAPH_DATASETS)
    for dataset in GRAPH_DATASETS:
        first_pages = [r for r in fake.graph_requests(azure.QUERIES[dataset]) if r.skip_token is None]
        assert [r.subscriptions for r in first_pages] == [subs[0:2], subs[2:4], subs[4:5]]
    probes = fake.graph_requests("resourcecontainers")
    assert [r.subscriptions for r in probes] == [subs[0:2], subs[2:4], subs[4:5]]
    landing.commit()
    assert {r["scope"] for r in landed(landing, VMS)} == {f"{subs[0]}+1", f"{subs[2]}+1", subs[4]}


def test_tenant_scope_without_subscriptions(fake: AzureFake, landing: Landing) -> None:
    fake.add_resources(estate(sub(1), machines=1) + estate(sub(2), machines=1))
    outcomes = run(settings_for(fake), landing)
    assert {(o.scope, o.status) for o in outcomes} == {("*", "ok")}
    assert by(outcomes, VMS)[0].rows == 2
    assert not fake.graph_requests("resourcecontainers")  # nothing to probe at tenant scope
    assert all("subscriptions" not in r.body for r in fake.graph_requests())

    fake.fail(status=403, code="AuthorizationFailed", api="graph")
    failed = run(settings_for(fake), Landing(landing.lake_root, SNAPSHOT))
    assert {(o.scope, o.status, o.error_class) for o in failed} == {("*", "failed", "AccessDenied")}


def test_429_with_retry_after_then_success(fake: AzureFake, landing: Landing) -> None:
    s1 = sub(1)
    fake.add_resources(estate(s1))
    fake.fail(status=429, times=1, api="graph", query_contains="virtualmachines' |",
              headers={"Retry-After": "1"})
    outcomes = run(settings_for(fake, subscriptions=[s1]), landing)

    vm = by(outcomes, VMS)[0]
    assert vm.status == "ok" and vm.rows == 3
    assert vm.requests == 1 + vm.pages + 1  # probe + pages + the throttled attempt
    seen = fake.graph_requests(azure.QUERIES[VMS])
    assert [r.status for r in seen][:2] == [429, 200]
    assert seen[1].at - seen[0].at >= 0.9  # Retry-After honoured by azure-core's RetryPolicy
    assert all(o.status == "ok" for o in outcomes)


def test_exhausted_user_quota_waits_for_the_reset(fake: AzureFake, landing: Landing,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    s1 = sub(1)
    fake.add_resources(estate(s1, machines=1))
    fake.set_quota(limit=3, window_seconds=1.0)  # a 4th query within the second would get a 429
    waits: list[float] = []
    real_sleep = azure_http._sleep
    monkeypatch.setattr(azure_http, "_sleep", lambda seconds: (waits.append(seconds), real_sleep(seconds)))
    outcomes = run(settings_for(fake, subscriptions=[s1]), landing)

    assert all(o.status == "ok" for o in outcomes)
    assert [r.status for r in fake.requests] == [200] * len(fake.requests)  # never throttled
    assert len(fake.requests) == 9  # probe + 6 datasets, two of which take 2 pages
    assert len(waits) >= 2  # after the 3rd and the 6th query
    assert all(0 < w <= 1.0 for w in waits)
    gaps = [b.at - a.at for a, b in zip(fake.requests, fake.requests[1:], strict=False)]
    assert max(gaps) >= 0.5


def test_5xx_burst_is_retried_and_exhaustion_fails_only_that_subscription(fake: AzureFake,
                                                                         landing: Landing) -> None:
    s1, s2, s3 = sub(1), sub(2), sub(3)
    for s in (s1, s2, s3):
        fake.add_resources(estate(s, machines=1))
    fake.fail(status=503, api="graph", subscription=s2)  # every query naming s2
    fake.fail(status=500, times=2, api="graph", subscription=s3)  # a short burst: azure-core retries it
    outcomes = run(settings_for(fake, subscriptions=[s1, s2, s3], subscriptions_per_query=1), landing)

    assert {(o.status, o.error_class) for o in by(outcomes, scope=s2)} == {("failed", "ServerError")}
    assert len(by(outcomes, scope=s2)) == len(GRAPH_DATASETS)
    assert "ServiceUnavailable" in by(outcomes, VMS, s2)[0].error_message
    for healthy in (s1, s3):
        assert {o.status for o in by(outcomes, scope=healthy)} == {"ok"}
    assert by(outcomes, VMS, s3)[0].rows == 1
    assert [r.status for r in fake.graph_requests() if r.subscriptions == [s3]][:3] == [500, 500, 200]
    # transient: retried by azure-core (retry_total 3) inside each of FAST_RETRY's 2 attempts
    assert by(outcomes, ARCS, s2)[0].requests == 2 * (1 + FAST_HTTP.retry_total)
    landing.commit()
    assert {r["subscription_id"] for r in landed(landing, VMS)} == {s1, s3}


def test_403_for_one_subscription_fails_exactly_that_scope(fake: AzureFake, landing: Landing) -> None:
    s1, s2, s3 = sub(1), sub(2), sub(3)
    for s in (s1, s2, s3):
        fake.add_resources(estate(s, machines=1))
    fake.forbid(s2)
    outcomes = run(settings_for(fake, subscriptions=[s1, s2, s3]), landing)  # one chunk of three

    failed = [o for o in outcomes if o.status == "failed"]
    assert {(o.scope, o.dataset, o.error_class) for o in failed} == {(s2, d, "AccessDenied") for d in GRAPH_DATASETS}
    assert "AuthorizationFailed" in failed[0].error_message
    assert {(o.scope, o.status) for o in outcomes if o.status == "ok"} == {(f"{s1}+2", "ok")}
    # the probe tried the subscription named in the error alone, then the others; the datasets then asked
    # for the readable subscriptions only
    assert [r.subscriptions for r in fake.graph_requests("resourcecontainers")] == [[s1, s2, s3], [s2], [s1, s3]]
    assert all(r.subscriptions == [s1, s3] for r in fake.graph_requests("resources |"))
    landing.commit()
    assert {r["subscription_id"] for r in landed(landing, VMS)} == {s1, s3}


def test_403_without_a_named_scope_is_isolated_by_bisection(fake: AzureFake, landing: Landing) -> None:
    subs = [sub(i) for i in range(1, 5)]
    for s in subs:
        fake.add_resources(estate(s, machines=1))
    fake.fail(status=403, code="Forbidden", message="Access denied.", api="graph", subscription=subs[2])
    outcomes = run(settings_for(fake, subscriptions=subs), landing)

    assert {(o.scope, o.error_class) for o in outcomes if o.status == "failed"} == {(subs[2], "AccessDenied")}
    assert [r.subscriptions for r in fake.graph_requests("resourcecontainers")] == [
        subs, subs[:2], subs[2:], subs[2:3], subs[3:]]
    assert by(outcomes, VMS, f"{subs[0]}+3")[0].rows == 3


def test_a_bad_subscription_id_fails_alone(fake: AzureFake, landing: Landing) -> None:
    s1 = sub(1)
    fake.add_resources(estate(s1, machines=1))
    fake.fail(status=400, code="BadRequest", message="Invalid subscription id 'not-a-guid'.", api="graph",
              subscription="not-a-guid")
    outcomes = run(settings_for(fake, subscriptions=["Not-A-Guid", s1]), landing)
    assert {(o.scope, o.error_class) for o in outcomes if o.status == "failed"} == {("not-a-guid", "BadRequest")}
    assert by(outcomes, VMS, "not-a-guid+1")[0].rows == 1


def test_invisible_subscription_is_reported_not_silently_empty(fake: AzureFake, landing: Landing) -> None:
    s1, s2 = sub(1), sub(2)
    fake.add_resources(estate(s1, machines=1) + estate(s2, machines=1))
    fake.hide(s2)  # Resource Graph leaves it out without an error
    outcomes = run(settings_for(fake, subscriptions=[s1, s2]), landing)
    assert {(o.scope, o.error_class) for o in outcomes if o.status == "failed"} == {(s2, "SubscriptionNotVisible")}
    assert len(by(outcomes, scope=s2)) == len(GRAPH_DATASETS)
    assert by(outcomes, VMS, f"{s1}+1")[0].rows == 1


def test_malformed_row_is_rejected_not_fatal(fake: AzureFake, landing: Landing) -> None:
    s1 = sub(1)
    rows = estate(s1)
    broken = sample("virtual_machine", s1, 7)
    del broken["properties"]
    fake.add_resources(rows + [broken])
    outcomes = run(settings_for(fake, subscriptions=[s1]), landing)
    landing.commit()

    vm = by(outcomes, VMS)[0]
    assert (vm.status, vm.rows, vm.rejected_rows) == ("ok", 3, 1)
    rejects = landed(landing, "rejected_records")
    assert len(rejects) == 1 and rejects[0]["dataset"] == VMS and "properties" in rejects[0]["error"]
    assert json.loads(rejects[0]["raw_json"])["name"] == "cloudbeatVM7"
    runs = {(r["dataset"], r["scope"]): r for r in landed(landing, "extract_runs")}
    assert runs[(VMS, s1)]["rejected_rows"] == 1


def test_slow_response_times_out_and_is_retried(fake: AzureFake, landing: Landing,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(azure_http, "TUNING", azure_http.HttpTuning(
        retry_total=1, retry_backoff_factor=0.01, retry_backoff_max=0.05, connection_timeout=2, read_timeout=0.3))
    s1 = sub(1)
    fake.add_resources(estate(s1, machines=1))
    fake.fail(delay=1.0, times=1, api="graph", query_contains="hybridcompute/machines' |")  # once: recovered
    fake.fail(delay=1.0, api="graph", query_contains="securityconnectors")  # always: gives up
    outcomes = run(settings_for(fake, subscriptions=[s1]), landing)

    arc = by(outcomes, ARCS)[0]
    assert (arc.status, arc.rows, arc.requests) == ("ok", 1, 2)
    connectors = by(outcomes, CONNECTORS)[0]
    assert (connectors.status, connectors.error_class) == ("failed", "Timeout")
    assert connectors.requests == 2 * 2  # 2 attempts of (1 + retry_total 1)
    assert {o.status for o in outcomes if o.dataset not in (CONNECTORS,)} == {"ok"}


def test_result_truncated_without_skip_token_fails(fake: AzureFake, landing: Landing,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    s1 = sub(1)
    fake.add_resources(estate(s1, machines=1))
    original = fake.graph_answer

    def truncated(body: dict[str, Any]) -> dict[str, Any]:
        answer = original(body)
        if "securityresources" in body["query"]:
            answer.update(resultTruncated="true", totalRecords=answer["totalRecords"] + 5)
            answer.pop("$skipToken", None)
        return answer

    monkeypatch.setattr(fake, "graph_answer", truncated)
    outcomes = run(settings_for(fake, subscriptions=[s1]), landing)
    assert {(o.dataset, o.error_class) for o in outcomes if o.status == "failed"} == {
        (PRICINGS, "ResultTruncated"), (ASSESSMENTS, "ResultTruncated")}


# -- Log Analytics ---------------------------------------------------------------------------------------


def change_rows() -> list[dict[str, Any]]:
    rows = sample("configuration_data")
    vm = rows[0]["_ResourceId"]
    extra = [
        {**rows[0], "TimeGenerated": "2024-04-30T10:00:00Z", "SvcState": "Stopped"},  # older: superseded
        {**rows[1], "ConfigDataType": "Files", "SoftwareName": "hosts"},  # not asked for
        {**rows[1], "_ResourceId": "", "SoftwareName": "on-prem"},  # no Azure resource: not asked for
    ]
    for n in range(1, 4):  # more machines, so the workspace splits into several parts
        resource = vm.replace("cloudbeatvm", f"web{n}")
        extra.append({**rows[1], "_ResourceId": resource, "Computer": f"web{n}",
                      "TimeGenerated": f"2024-05-01T1{n}:00:00.1234567Z"})
    return rows + extra


def test_change_tracking_splits_the_workspace_and_lands_latest_rows(fake: AzureFake, landing: Landing,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(azure_http, "TUNING", azure_http.HttpTuning(
        retry_total=1, retry_backoff_factor=0.01, log_analytics_read_timeout=5, log_analytics_rows_per_query=3))
    fake.add_log_rows("ws-1", change_rows())
    outcomes = run(settings_for(fake, workspaces=["ws-1"], change_tracking_days=14), landing,
                   kinds=(azure.LOG_ANALYTICS,))
    landing.commit()

    (outcome,) = outcomes
    assert (outcome.dataset, outcome.scope, outcome.status, outcome.rows) == (CHANGES, "workspace:ws-1", "ok", 7)
    seen = fake.log_requests()
    assert outcome.pages == 3 and outcome.requests == len(seen) == 1 + 3  # count + ceil(7 / 3) parts
    assert "| count" in seen[0].query
    assert [f"hash(_ResourceId, 3) == {i}" in r.query for i, r in enumerate(seen[1:])] == [True] * 3
    assert all("ago(14d)" in r.query and "arg_max(TimeGenerated, *)" in r.query for r in seen)
    assert seen[0].body["timespan"] == "PT1209600.0S"
    rows = landed(landing, CHANGES)
    assert len(rows) == 7 and {r["scope"] for r in rows} == {"workspace:ws-1"}
    daemon = next(r for r in rows if r["svc_name"] == "falcon-sensor")
    assert daemon["svc_state"] == "Running" and daemon["config_data_type"] == "Daemons"  # the latest row
    assert str(daemon["time_generated"]).startswith("2024-05-01 10:00:00")
    assert json.loads(daemon["raw_json"])["TimeGenerated"] == "2024-05-01T10:00:00+00:00"  # ISO string
    assert {r["computer"] for r in rows if r["software_name"] == "falcon-sensor"} == {"cloudbeatVM0", "web1",
                                                                                     "web2", "web3"}


def test_change_tracking_partial_result_lands_rows_but_fails(fake: AzureFake, landing: Landing) -> None:
    fake.add_log_rows("ws-1", change_rows())
    fake.fail(api="logs", partial=True, query_contains="| project")
    outcomes = run(settings_for(fake, workspaces=["ws-1"]), landing, kinds=(azure.LOG_ANALYTICS,))
    landing.commit()

    (outcome,) = outcomes
    assert (outcome.status, outcome.error_class) == ("failed", "PartialResult")
    assert "E_QUERY_RESULT_SET_TOO_LARGE" in outcome.error_message
    assert 0 < outcome.rows < 7
    assert len(landed(landing, CHANGES)) == outcome.rows
    runs = landed(landing, "extract_runs")
    assert [(r["status"], r["error_class"]) for r in runs] == [("failed", "PartialResult")]


def test_change_tracking_errors_and_missing_workspace(fake: AzureFake, landing: Landing) -> None:
    fake.add_log_rows("ws-1", change_rows())
    fake.fail(status=403, code="InsufficientAccessError", api="logs", workspace="ws-2",
              message="The provided credentials have insufficient access to perform the requested operation")
    outcomes = run(settings_for(fake, workspaces=["ws-1", "ws-2"]), landing, kinds=(azure.LOG_ANALYTICS,))
    assert {(o.scope, o.status, o.error_class) for o in outcomes} == {
        ("workspace:ws-1", "ok", None), ("workspace:ws-2", "failed", "AccessDenied")}

    outcomes = run(settings_for(fake), landing, kinds=(azure.LOG_ANALYTICS,))
    assert [(o.scope, o.dataset, o.status, o.error_message) for o in outcomes] == [
        (azure.NO_WORKSPACE_SCOPE, CHANGES, "skipped", azure.NO_WORKSPACE_REASON)]


# -- credentials, classification, secrets ----------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://10.0.0.5:8080", "https://management.azure.com", "http://example.com",
                                 "http://127.0.0.1.nip.io:8080"])
def test_anonymous_credential_refused_off_loopback(url: str, landing: Landing) -> None:
    settings = Settings(azure=AzureSettings(credential="anonymous", resource_manager_url=url))
    with pytest.raises(ValueError, match="only allowed for a loopback http:// endpoint"):
        azure.plan_jobs(settings)
    job = ScopeJob("azure", "*", {"kind": azure.RESOURCE_GRAPH, "subscriptions": []})
    with pytest.raises(ValueError, match="resource_manager_url"):
        azure.extract_job(job, landing, settings)
    assert landing.outcomes == []


def test_endpoint_rules(fake: AzureFake) -> None:
    # a real token is never sent over http
    with pytest.raises(ValueError, match="must be an https:// URL"):
        azure.plan_jobs(Settings(azure=AzureSettings(resource_manager_url=fake.url)))
    # the Log Analytics endpoint only matters with workspaces
    settings = Settings(azure=AzureSettings(credential="anonymous", resource_manager_url="http://localhost:1"))
    assert len(azure.plan_jobs(settings)) == 2
    with pytest.raises(ValueError, match="log_analytics_endpoint"):
        azure.plan_jobs(Settings(azure=AzureSettings(credential="anonymous", resource_manager_url="http://[::1]:1",
                                                     workspaces=["ws"])))
    assert azure_http.scope_for("https://management.usgovcloudapi.net/") == \
        "https://management.usgovcloudapi.net/.default"


def test_token_scopes_follow_the_endpoints(fake: AzureFake, landing: Landing,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    scopes: list[tuple[str, ...]] = []
    original = azure_http.AnonymousLoopbackCredential.get_token
    monkeypatch.setattr(azure_http.AnonymousLoopbackCredential, "get_token",
                        lambda self, *s, **kw: (scopes.append(s), original(self, *s, **kw))[1])
    fake.add_log_rows("ws-1", change_rows())
    run(settings_for(fake, workspaces=["ws-1"]), landing, kinds=(azure.RESOURCE_GRAPH, azure.LOG_ANALYTICS))
    assert set(scopes) == {(f"{fake.url}/.default",)}
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in fake.requests)


def _http_error(status: int) -> HttpResponseError:
    error = HttpResponseError(message=f"status {status}")
    error.status_code = status
    return error


def test_error_classification() -> None:
    expected = {400: ("BadRequest", False), 401: ("AccessDenied", False), 403: ("AccessDenied", False),
                404: ("NotFound", False), 429: ("Throttled", True), 500: ("ServerError", True),
                503: ("ServerError", True), 409: ("HttpError409", False)}
    for status, (error_class, transient) in expected.items():
        info = classify(_http_error(status))
        assert (info.error_class, info.transient) == (error_class, transient), status
    assert classify(ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")) \
        .error_class == "AuthenticationFailed"
    assert not classify(ClientAuthenticationError("no token")).transient
    assert (classify(ServiceResponseTimeoutError("read timed out")).error_class,
            classify(ServiceResponseTimeoutError("read timed out")).transient) == ("Timeout", True)
    assert classify(ServiceRequestError("connection refused")).transient


def test_no_token_in_outcomes_or_parquet(fake: AzureFake, landing: Landing) -> None:
    s1, s2 = sub(1), sub(2)
    fake.add_resources(estate(s1, machines=1) + estate(s2, machines=1))
    fake.add_log_rows("ws-1", change_rows())
    fake.forbid(s2)
    fake.echo_authorization = True  # a hostile server: the 403 message carries the bearer token
    fake.fail(status=500, api="logs", message=f"upstream said Authorization: Bearer {TOKEN}")
    outcomes = run(settings_for(fake, subscriptions=[s1, s2], workspaces=["ws-1"]), landing,
                   kinds=(azure.RESOURCE_GRAPH, azure.LOG_ANALYTICS))
    assert any(TOKEN in str(r.headers) for r in fake.requests)  # it was sent ...
    assert {o.error_class for o in outcomes if o.status == "failed"} == {"AccessDenied", "ServerError"}
    for outcome in outcomes:  # ... but is nowhere in what was recorded
        assert TOKEN not in (outcome.error_message or "")
    landing.commit()
    files = list(landing.lake_root.rglob("*.parquet"))
    assert files
    for path in files:
        table = pq.read_table(path)
        for column in table.columns:
            if pa.types.is_string(column.type):
                assert not any(TOKEN in value for value in column.to_pylist() if value), path
        assert TOKEN.encode() not in path.read_bytes()


def test_extract_runs_are_returned_and_recorded(fake: AzureFake, landing: Landing) -> None:
    s1 = sub(1)
    fake.add_resources(estate(s1, machines=1))
    started = time.monotonic()
    outcomes = run(settings_for(fake, subscriptions=[s1], workspaces=[]), landing,
                   kinds=(azure.RESOURCE_GRAPH, azure.LOG_ANALYTICS))
    assert time.monotonic() - started < 10
    assert landing.outcomes == outcomes
    landing.commit()
    runs = landed(landing, "extract_runs")
    assert sorted((r["dataset"], r["status"]) for r in runs) == sorted(
        [(d, "ok") for d in GRAPH_DATASETS] + [(CHANGES, "skipped")])
    assert all(r["source"] == "azure" and r["cloud"] == "azure" for r in runs)


def test_log_analytics_cells_come_out_as_the_sdk_would_give_them():
    """Rows read straight from the query API's JSON: datetimes as ISO strings with an explicit UTC offset
    (7-digit fractions truncated, as the SDK does), a datetime that cannot be parsed kept as it came,
    timespans and GUIDs as strings, everything else untouched."""
    from flows.sources.azure import json_table_rows

    tables = [{"name": "PrimaryResult",
               "columns": [{"name": "TimeGenerated", "type": "datetime"}, {"name": "Took", "type": "timespan"},
                           {"name": "Id", "type": "guid"}, {"name": "Name", "type": "string"},
                           {"name": "Count", "type": "long"}],
               "rows": [["2024-05-01T10:00:00.1234567Z", "00:00:01", "1f0c", "<b>vm</b>", 3],
                        ["2024-05-01T10:00:00", None, None, None, None],
                        ["not a date", "1.00:00:00", "x", "", 0]]}]
    assert list(json_table_rows(tables)) == [
        {"TimeGenerated": "2024-05-01T10:00:00.123456+00:00", "Took": "00:00:01", "Id": "1f0c", "Name": "<b>vm</b>",
         "Count": 3},
        {"TimeGenerated": "2024-05-01T10:00:00+00:00", "Took": "None", "Id": "None", "Name": None, "Count": None},
        {"TimeGenerated": "not a date", "Took": "1.00:00:00", "Id": "x", "Name": "", "Count": 0}]
    assert list(json_table_rows([{"columns": [], "rows": []}, {}])) == []


def test_log_analytics_rows_release_the_parsed_answer_as_they_are_made():
    """A 50,000-row answer is not held twice (parsed JSON and dicts): each raw row is dropped from the parsed
    tables as soon as its dict is handed out."""
    from flows.sources.azure import json_table_rows

    tables = [{"columns": [{"name": "Name", "type": "string"}], "rows": [["a"], ["b"], ["c"]]}]
    rows = json_table_rows(tables)
    assert next(rows) == {"Name": "a"}
    assert tables[0]["rows"] == [None, ["b"], ["c"]]
    assert [row["Name"] for row in rows] == ["b", "c"]
    assert tables[0]["rows"] == [None, None, None]
