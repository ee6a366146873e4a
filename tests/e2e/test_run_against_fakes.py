"""`edrcov run --config` end to end against all three clouds at once, each a local server seeded from ONE
demo estate (see ``fake_clouds``): the Azure fake, moto + the SSM fake, the Cloud Asset fake.

Two nights through the real CLI, Prefect flow, connectors, lake, models and report:

1. a clean night: every machine gets the verdict the demo built it for, every scope is ``ok``, and the
   ``requests`` recorded in ``extract_runs`` are exactly the requests the fakes served;
2. the next night, with faults: one AWS account refuses AssumeRole (AccessDenied), Resource Graph answers
   one 429 with Retry-After, Cloud Asset a burst of 503s, SSM lists one malformed record, and in another
   AWS account one inventory shard is denied its first ListInventoryEntries. The run is partial (exit 3),
   names the missing scopes, retries what recovers, sets the malformed record aside, carries the denied
   account's machines forward from the first night as ``unknown`` (``source_failed``), and judges no
   machine of the region whose shard failed ``not_installed``.

Every AWS region is read in inventory shards (``[aws] inventory_shard_size`` is small here), so the flow's
hand-back of shard jobs to the task runner runs on both nights.
"""

from __future__ import annotations

import importlib
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import EXIT_OK, EXIT_PARTIAL, app
from flows.demo.aws import ssm_information
from flows.demo.inventory import DemoContext
from flows.settings import AwsSettings
from flows.sources.aws import inventory_shards
from tests.e2e.fake_clouds import ACCESS_KEY, SECRET_KEY, FakeClouds, running_fake_clouds, to_toml
from tests.fakes.ssm_server import Fault

pytestmark = pytest.mark.slow

MACHINES, SEED = 600, 42
FIRST, SECOND = date(2026, 11, 26), date(2026, 11, 27)
AWS_DATASETS = ("aws__ec2_instances", "aws__ssm_instance_information", "aws__ssm_applications",
                "aws__ssm_services")
SSM_OPERATIONS = ("DescribeInstanceInformation", "ListInventoryEntries")
INVENTORY_DATASETS = ("aws__ssm_applications", "aws__ssm_services")
GCP_BURST = 3  # 503s before Cloud Asset recovers
SHARD_SIZE = 10  # managed instances per AWS inventory shard: every region of the estate has more
MALFORMED_SSM_ID = "mi-0badc0ffee0000001"  # a hybrid managed instance whose record lacks PingStatus
# Records of the demo estate built to be rejected, per dataset. Its malformed EC2 record cannot be put in
# moto; its Change Tracking row "without TimeGenerated" comes back through Log Analytics as a row whose
# TimeGenerated is null (every projected column is in every row), which the extractor lands: not counted here.
DEMO_REJECTS = {"azure__virtual_machines": 1, "gcp__compute_instances": 1}
UNCHECKED_REJECTS = "azure__change_tracking"

runner = CliRunner()


@dataclass
class Night:
    """What one `edrcov run` left behind, read before the next night replaces the database."""

    exit_code: int
    output: str
    verdicts: dict[str, tuple[str, str, date | None]]  # lower(native_id) -> (edr_status, reason, carried_from)
    runs: list[dict[str, Any]]  # this night's extract_runs rows
    report: str
    served: dict[str, int]  # requests the fakes answered, by cloud API
    ssm_calls: Counter[tuple[str, str]]  # (account, operation) -> SSM fake calls
    loaded: Counter[str]  # records the fakes served, per dataset


@dataclass
class Nights:
    clouds: FakeClouds
    first: Night
    second: Night
    denied_account: str
    faulted_project: str
    shard_denied_account: str  # an account one of whose inventory shards is denied on the second night


@pytest.fixture(scope="module")
def nights(request, tmp_path_factory) -> Iterator[Nights]:
    tmp = tmp_path_factory.mktemp("e2e")
    with ExitStack() as stack:
        with ThreadPoolExecutor(1) as pool:  # launching the EC2 side in moto takes ~10 s: overlap it with
            starting = pool.submit(stack.enter_context, running_fake_clouds(MACHINES, seed=SEED, snapshot_date=FIRST))
            request.getfixturevalue("prefect_server")  # the start of Prefect's shared test server, if first
        clouds = starting.result()
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        clouds.apply_environment(mp)
        config = tmp / "edrcov.toml"
        tables = clouds.config(tmp / "edrcov-data")
        tables["aws"]["inventory_shard_size"] = SHARD_SIZE
        config.write_text(to_toml(tables), encoding="utf-8")
        first = _run(clouds, config, FIRST)

        denied, good = clouds.topology.aws_accounts[1].id, clouds.topology.aws_accounts[0].id
        project = clouds.projects[0]
        _reset_fakes(clouds)
        clouds.load(SECOND)
        clouds.ssm.add_fault(Fault("deny", operation="AssumeRole", account=denied))
        clouds.azure.fail(status=429, times=1, api="graph", query_contains="'microsoft.compute/virtualmachines'",
                          headers={"Retry-After": "1"})
        clouds.cloudasset.fail(503, times=GCP_BURST, parent=project, content_type="RESOURCE")
        clouds.ssm.add_instances(good, "us-east-1", [_malformed_ssm_record(clouds, good)])
        clouds.ssm.add_fault(Fault("deny", operation="ListInventoryEntries", account=good, times=1))
        second = _run(clouds, config, SECOND)
        yield Nights(clouds, first, second, denied, project, good)


def _run(clouds: FakeClouds, config: Path, night: date) -> Night:
    # Prefect binds its log handlers to the sys.stderr of its first import. The CLI imports it lazily, so
    # inside the first invoke that is CliRunner's stream, closed afterwards: the next run's first log line
    # then fails, and through the flow's log_prints the failure recurses. Import it here, outside.
    importlib.import_module("flows.nightly")
    result = runner.invoke(app, ["run", "--config", str(config), "--snapshot-date", night.isoformat()])
    if result.exit_code not in (EXIT_OK, EXIT_PARTIAL):
        pytest.fail(f"edrcov run for {night} exited {result.exit_code}, nothing published:\n{result.output}")
    data_dir = config.parent / "edrcov-data"
    with duckdb.connect(str(data_dir / "edrcov.duckdb"), read_only=True) as con:
        verdicts = {row[0]: row[1:] for row in con.execute(
            "select lower(s.native_id), s.edr_status, s.status_reason, m.carried_from "
            "from machine_edr_status as s join machines as m using (machine_key)").fetchall()}
        cursor = con.execute("select * from extract_runs where snapshot_date = ?", [night])
        columns = [d[0] for d in cursor.description]
        runs = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    report = (data_dir / "reports" / night.isoformat() / "coverage.html").read_text(encoding="utf-8")
    served = {"azure": len(clouds.azure.requests), "gcp": len(clouds.cloudasset.requests)}
    return Night(result.exit_code, result.output, verdicts, runs, report, served, Counter(clouds.ssm.calls),
                 Counter(clouds.loaded))


def _reset_fakes(clouds: FakeClouds) -> None:
    for fake in (clouds.azure, clouds.ssm, clouds.cloudasset):
        fake.reset()


def _malformed_ssm_record(clouds: FakeClouds, account: str) -> dict[str, Any]:
    """A DescribeInstanceInformation record of a hybrid machine, lacking the required PingStatus."""
    machine = next(m for m in clouds.plan if m.kind == "ec2" and m.account_id == account and m.scenario != "no_ssm")
    ctx = DemoContext(clouds.seed, clouds.topology, SECOND)
    record = ssm_information(ctx, machine, ctx.inventory_time(machine))
    record.update(InstanceId=MALFORMED_SSM_ID, SourceId=MALFORMED_SSM_ID, ResourceType="ManagedInstance",
                  SourceType="AWS::SSM::ManagedInstance")
    del record["PingStatus"]
    return record


def _wrong_verdicts(night: Night, expected: dict[str, str]) -> Counter[tuple[str, str | None]]:
    return Counter((case, (night.verdicts.get(key) or (None,))[0]) for key, case in expected.items()
                   if (night.verdicts.get(key) or (None,))[0] != case)


def _checked(rejected: Counter[str]) -> dict[str, int]:
    return {dataset: n for dataset, n in rejected.items() if n and dataset != UNCHECKED_REJECTS}


def _by_cloud(runs: list[dict[str, Any]], field: str) -> Counter[str]:
    totals: Counter[str] = Counter()
    for row in runs:
        totals[row["cloud"]] += row[field]
    return totals


# -- night 1: clean -------------------------------------------------------------------------------------------


def test_clean_night_gives_every_machine_its_intended_verdict(nights):
    first, expected = nights.first, nights.clouds.expected_cases()
    assert first.exit_code == EXIT_OK, first.output
    assert len(first.verdicts) == len(expected) == MACHINES  # malformed records are not machines
    assert not _wrong_verdicts(first, expected), _wrong_verdicts(first, expected).most_common(10)
    assert Counter(expected.values()).keys() == {"protected", "unhealthy", "not_installed", "unknown", "exempt",
                                                  "not_applicable"}


def test_clean_night_reads_every_scope_and_lands_every_record(nights):
    runs, loaded = nights.first.runs, nights.first.loaded
    assert {row["status"] for row in runs} == {"ok"}, [r for r in runs if r["status"] != "ok"]
    assert {row["cloud"] for row in runs} == {"azure", "aws", "gcp"}
    landed, rejected = Counter(), Counter()
    for row in runs:
        landed[row["dataset"]] += row["rows"]
        rejected[row["dataset"]] += row["rejected_rows"]
    assert _checked(rejected) == DEMO_REJECTS
    assert {d: landed[d] + rejected[d] for d in loaded} == dict(loaded)
    assert {row["scope"] for row in runs if row["cloud"] == "aws"} == {
        f"{account}/{region}" for account in nights.clouds.accounts for region in nights.clouds.regions}


def test_clean_night_counts_exactly_the_requests_the_fakes_served(nights):
    first = nights.first
    requests = _by_cloud(first.runs, "requests")
    assert requests["azure"] == first.served["azure"]
    assert requests["gcp"] == first.served["gcp"]
    ssm_requests = sum(r["requests"] for r in first.runs if r["dataset"].startswith("aws__ssm"))
    assert ssm_requests == sum(n for (_, op), n in first.ssm_calls.items() if op in SSM_OPERATIONS)
    # no retries on a clean night: every answer is one landed page (the SSM inventory reads the instances
    # that instance_information listed, in however many shards), except the calls that only list what to
    # read (Azure probes which subscriptions it can see and counts each workspace's rows) and EC2, whose
    # landing pages are reservations
    for row in first.runs:
        if row["cloud"] == "gcp" or row["dataset"].startswith("aws__ssm"):
            assert row["requests"] == row["pages"], row
    azure = [r for r in first.runs if r["cloud"] == "azure"]
    assert sum(r["requests"] - r["pages"] for r in azure) == 1 + len(nights.clouds.workspaces)
    assert all(r["requests"] >= 1 for r in first.runs if r["dataset"] == "aws__ec2_instances")
    assert SECRET_KEY not in first.output and SECRET_KEY not in first.report


def test_clean_night_reads_each_regions_inventory_in_shards(nights):
    runs = nights.first.runs
    managed = {r["scope"]: r["rows"] for r in runs if r["dataset"] == "aws__ssm_instance_information"}
    assert all(count > SHARD_SIZE for count in managed.values()), managed
    for dataset in INVENTORY_DATASETS:
        shards = Counter(r["scope"] for r in runs if r["dataset"] == dataset)
        most = AwsSettings().inventory_max_shards  # the sizes themselves: tests/sources/test_aws.py
        expected = {scope: len(inventory_shards([("i", "Linux")] * count, SHARD_SIZE, most))
                    for scope, count in managed.items()}
        assert shards == expected and all(n > 1 for n in expected.values()), dataset
    apps = Counter()
    for row in runs:
        if row["dataset"] == "aws__ssm_applications":
            apps[row["scope"]] += row["rows"]
    assert sum(apps.values()) == nights.first.loaded["aws__ssm_applications"]  # each instance read once


# -- night 2: faults ------------------------------------------------------------------------------------------


def test_faulted_night_is_partial_and_names_the_missing_scope(nights):
    second, denied = nights.second, nights.denied_account
    assert second.exit_code == EXIT_PARTIAL, second.output
    shard = _failed_shard(nights)
    failed = [row for row in second.runs if row["status"] == "failed" and row is not shard]
    assert sorted(row["dataset"] for row in failed) == sorted(AWS_DATASETS)
    assert {(row["cloud"], row["scope"], row["error_class"]) for row in failed} == {("aws", f"{denied}/*",
                                                                                     "AccessDenied")}
    assert all("AssumeRole" in row["error_message"] for row in failed)
    # the denial names the caller's access key id: redacted wherever the message goes
    assert all(ACCESS_KEY not in text for text in [second.output, second.report, *(r["error_message"] for r in failed)])
    assert {row["status"] for row in second.runs if row["scope"] != f"{denied}/*" and row is not shard} == {"ok"}
    assert f"{denied}/*" in second.output
    assert f"{denied}/*" in second.report
    assert shard["scope"] in second.output and shard["scope"] in second.report


def _failed_shard(nights: Nights) -> dict[str, Any]:
    """The one extract_runs row of the second night that the denied ListInventoryEntries failed."""
    failed = [row for row in nights.second.runs if row["status"] == "failed"
              and row["scope"].startswith(f"{nights.shard_denied_account}/")]
    assert len(failed) == 1, failed
    return failed[0]


def test_a_failed_inventory_shard_fails_its_region_whose_machines_are_never_not_installed(nights):
    second, clouds, shard = nights.second, nights.clouds, _failed_shard(nights)
    assert (shard["cloud"], shard["dataset"], shard["error_class"]) == ("aws", "aws__ssm_applications",
                                                                         "AccessDenied")
    assert re.match(r"inventory \d+/\d+: ", shard["error_message"]), shard["error_message"]
    assert ACCESS_KEY not in shard["error_message"]
    machines = clouds.machines_of(f"{shard['scope']}")
    expected = {m.machine_id.lower(): m.case for m in machines}
    assert "not_installed" in expected.values()
    got = {key: second.verdicts[key] for key in expected}
    assert "not_installed" not in {verdict[0] for verdict in got.values()}
    # what the failed shard could not read can only be unknown; what no inventory decides stays as it was
    assert {key: verdict[:2] for key, verdict in got.items() if expected[key] == "not_installed"} == {
        key: ("unknown", "source_failed") for key, case in expected.items() if case == "not_installed"}
    for key, verdict in got.items():
        assert verdict[:2] == ("unknown", "source_failed") or verdict[0] == expected[key], (key, expected[key])
        assert verdict[2] is None  # listed tonight: nothing carried forward


def test_faults_that_recover_are_retried_not_failed(nights):
    second = nights.second
    graph_429 = [r for r in nights.clouds.azure.requests if r.status == 429]
    assert len(graph_429) == 1
    assert _by_cloud(second.runs, "requests")["azure"] == second.served["azure"]  # the retry is counted
    vms = [r for r in second.runs if r["dataset"] == "azure__virtual_machines"]
    assert [r["status"] for r in vms] == ["ok"]
    burst = [r for r in second.runs
             if r["scope"] == nights.faulted_project and r["dataset"] == "gcp__compute_instances"]
    assert [(r["status"], r["requests"] - r["pages"]) for r in burst] == [("ok", GCP_BURST)]
    assert _by_cloud(second.runs, "requests")["gcp"] == second.served["gcp"]


def test_malformed_records_are_set_aside_and_counted(nights):
    second = nights.second
    rejected = Counter()
    for row in second.runs:
        rejected[row["dataset"]] += row["rejected_rows"]
    assert _checked(rejected) == {**DEMO_REJECTS, "aws__ssm_instance_information": 1}
    assert f"{sum(rejected.values())} malformed record(s) set aside" in second.output


def test_denied_account_is_carried_forward_from_the_good_night(nights):
    second, clouds = nights.second, nights.clouds
    machines = clouds.machines_of(f"{nights.denied_account}/")
    assert machines
    got = {m.machine_id.lower(): second.verdicts.get(m.machine_id.lower()) for m in machines}
    # an active exemption (a tag of the carried EC2 record) still counts; nothing else can be judged
    expected = {m.machine_id.lower(): ("exempt" if m.case == "exempt" else "unknown", FIRST) for m in machines}
    assert {key: (value[0], value[2]) if value else None for key, value in got.items()} == expected
    assert {value[1] for value in got.values() if value[0] == "unknown"} == {"source_failed"}


def test_other_machines_keep_their_verdicts_on_the_faulted_night(nights):
    second, clouds = nights.second, nights.clouds
    denied = {m.machine_id.lower() for m in clouds.machines_of(f"{nights.denied_account}/")}
    unread = {m.machine_id.lower() for m in clouds.machines_of(_failed_shard(nights)["scope"])}
    expected = {key: case for key, case in clouds.expected_cases().items() if key not in denied | unread}
    assert len(expected) > MACHINES / 2
    assert len(second.verdicts) == MACHINES
    assert not _wrong_verdicts(second, expected), _wrong_verdicts(second, expected).most_common(10)
    assert all(v[2] is None for k, v in second.verdicts.items() if k not in denied)
