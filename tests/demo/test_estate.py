"""The demo estate: deterministic, every verdict case present, and shaped so the real extractors read it.

Most tests look at one night of the evolving estate (``plan``: the machines that exist on ``SNAPSHOT``,
with that night's cases); the mix of the estate is checked on the date-independent plan (``usual_plan``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from flows.demo import (
    CASES,
    EXEMPT_TAG,
    EXEMPT_UNTIL_TAG,
    MALFORMED,
    OWNER_TAG,
    PlannedMachine,
    demo_pages,
    land_demo_estate,
    planned_machines,
    summarize,
    topology,
)
from flows.demo.catalog import EDR_PRODUCTS
from flows.lake.datasets import DATASETS
from flows.lake.writer import Landing

SNAPSHOT = date(2025, 3, 14)  # a Friday
MACHINES = 3000
SEED = 42
EDR_SOFTWARE = {name for p in EDR_PRODUCTS.values() for name, _, _ in p.windows_software} | {
    name for p in EDR_PRODUCTS.values() for name, _, _ in p.linux_packages
}


@pytest.fixture(scope="module")
def usual_plan():
    return planned_machines(MACHINES, SEED)


@pytest.fixture(scope="module")
def plan():
    return planned_machines(MACHINES, SEED, SNAPSHOT)


@pytest.fixture(scope="module")
def pages(plan):
    return demo_pages(MACHINES, SEED, SNAPSHOT, plan=plan)


@pytest.fixture(scope="module")
def records(pages) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
    """Records per dataset, each with the context of its page."""
    out: dict[str, list] = defaultdict(list)
    for page in pages:
        out[page.dataset] += [(record, page.context) for record in page.records]
    return out


@pytest.fixture(scope="module")
def landed(tmp_path_factory, plan):
    lake = tmp_path_factory.mktemp("lake")
    landing = Landing(lake, SNAPSHOT, run_id="demo-test")
    started = time.perf_counter()
    summary = land_demo_estate(landing, machines=MACHINES, seed=SEED)
    seconds = time.perf_counter() - started
    landing.commit()
    return lake, landing, summary, seconds


def _dumps(pages) -> list[str]:
    return [json.dumps([p.dataset, p.scope, p.context, p.records], sort_keys=False) for p in pages]


def test_same_inputs_give_byte_identical_records():
    first = demo_pages(600, 7, SNAPSHOT)
    second = demo_pages(600, 7, SNAPSHOT)
    assert _dumps(first) == _dumps(second)
    assert _dumps(first) != _dumps(demo_pages(600, 8, SNAPSHOT))


def test_records_do_not_depend_on_the_process(tmp_path):
    """No hash randomisation, set order or wall clock leaks in: another interpreter gives the same bytes."""
    script = (
        "import hashlib, json, datetime; from flows.demo import demo_pages; "
        "pages = demo_pages(200, 5, datetime.date(2025, 3, 14)); "
        "print(hashlib.sha256(json.dumps([[p.dataset, p.scope, p.context, p.records] for p in pages])"
        ".encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    here = demo_pages(200, 5, SNAPSHOT)
    digest = hashlib.sha256(json.dumps([[p.dataset, p.scope, p.context, p.records] for p in here]).encode())
    assert other.stdout.strip() == digest.hexdigest()


MACHINE_DATASETS = ("azure__virtual_machines", "azure__arc_machines", "aws__ec2_instances", "gcp__compute_instances")


def _listed(machines: int, seed: int, snapshot: date) -> set[str]:
    """The ids of the machine records of one night (the malformed records included)."""
    return {
        record.get("id") or record.get("InstanceId") or record["name"]
        for page in demo_pages(machines, seed, snapshot)
        if page.dataset in MACHINE_DATASETS
        for record in page.records
    }


def _planned_ids(machines: list[PlannedMachine]) -> set[str]:
    return {m.machine_id for m in machines} | {m.arc_resource_id for m in machines if m.arc_resource_id}


def test_machine_ids_are_stable_across_snapshot_dates():
    """Long-lived machines keep their ids; the only ids that differ are those of machines launched or gone."""
    friday, monday = SNAPSHOT, SNAPSHOT + timedelta(days=3)
    plans = {night: planned_machines(400, 7, night) for night in (friday, monday)}
    listed = {night: _listed(400, 7, night) for night in (friday, monday)}
    planned = {night: _planned_ids(plans[night]) for night in (friday, monday)}
    assert listed[friday] - listed[monday] == planned[friday] - planned[monday] != set()
    assert listed[monday] - listed[friday] == planned[monday] - planned[friday] != set()
    long_lived = {m.machine_id for m in plans[friday] if m.generation is None}
    assert long_lived <= listed[monday] and len(long_lived) > 0.75 * 400
    later = demo_pages(400, 7, monday)
    assert _dumps(later) != _dumps(demo_pages(400, 7, friday)), "timestamps follow the snapshot date"


def test_the_usual_estate_does_not_change_with_the_date():
    """Rendered from the date-independent plan, every night lists the same machines (a fixed estate)."""
    usual = planned_machines(400, 7)
    ids = [
        {r.get("id") or r.get("InstanceId") or r["name"] for p in demo_pages(400, 7, night, plan=usual)
         if p.dataset in MACHINE_DATASETS for r in p.records}
        for night in (SNAPSHOT, SNAPSHOT + timedelta(days=3))
    ]
    assert ids[0] == ids[1] and len(ids[0]) > 400


def test_every_case_present_in_intended_proportions(usual_plan):
    plan = usual_plan
    counts = Counter(m.case for m in plan)
    assert set(counts) == set(CASES)
    intended = {
        "protected": 0.70,
        "unhealthy": 0.05,
        "not_installed": 0.105,
        "unknown": 0.105,
        "exempt": 0.02,
        "not_applicable": 0.02,
    }
    for case, share in intended.items():
        assert counts[case] / len(plan) == pytest.approx(share, abs=0.01), case


def test_small_estates_still_show_every_case():
    assert set(Counter(m.case for m in planned_machines(300, 1))) == set(CASES)


def test_counts_per_cloud_near_the_split(usual_plan):
    summary = summarize(usual_plan, SEED, SNAPSHOT)
    assert summary.machines == MACHINES
    assert summary.per_cloud["azure"] / MACHINES == pytest.approx(0.45, abs=0.01)
    assert summary.per_cloud["aws"] / MACHINES == pytest.approx(0.325, abs=0.01)
    assert summary.per_cloud["gcp"] / MACHINES == pytest.approx(0.225, abs=0.01)
    assert summary.per_kind["arc"] / MACHINES == pytest.approx(0.05, abs=0.005)
    assert 0.04 <= summary.arc_mirrors / MACHINES <= 0.07
    assert sum(summary.per_case.values()) == MACHINES


def test_os_mix_and_owners(usual_plan):
    plan = usual_plan
    families = Counter(m.family for m in plan)
    assert families["windows"] / MACHINES == pytest.approx(0.45, abs=0.03)
    assert families["linux"] / MACHINES == pytest.approx(0.53, abs=0.03)
    assert families["unsupported"] == sum(1 for m in plan if m.case == "not_applicable")
    owners = Counter(m.owner for m in plan)
    assert len(owners) == 9 and 0.05 < owners[None] / MACHINES < 0.2


def test_landing_rejects_only_the_deliberately_malformed_records(landed):
    lake, landing, summary, _ = landed
    expected = Counter(dataset for dataset, _ in MALFORMED)
    assert {d: n for d, n in summary.rejected.items() if n} == dict(expected)
    files = sorted((lake / "raw" / "rejected_records").glob("*/*.parquet"))
    rejects = [row for path in files for row in pq.read_table(path).to_pylist()]
    assert Counter(r["dataset"] for r in rejects) == expected
    assert all(summary.rows[name] > 0 for name in DATASETS), summary.rows


def test_one_ok_outcome_per_scope_and_dataset(landed):
    _, landing, _, _ = landed
    topo = topology(SEED)
    keys = Counter((o.dataset, o.scope) for o in landing.outcomes)
    assert all(n == 1 for n in keys.values())
    assert {o.source for o in landing.outcomes} == {"demo"} and {o.status for o in landing.outcomes} == {"ok"}
    aws_scopes = {f"{a.id}/{r}" for a in topo.aws_accounts for r in a.locations}
    assert {s for d, s in keys if d == "aws__ec2_instances"} == aws_scopes
    assert {s for d, s in keys if d == "gcp__os_inventories"} == {f"projects/{p.id}" for p in topo.gcp_projects}
    assert {s for d, s in keys if d == "azure__change_tracking"} == {w.customer_id for w in topo.workspaces}
    ssm = [o for o in landing.outcomes if o.dataset == "aws__ssm_instance_information"]
    assert sum(o.pages for o in ssm) >= sum(o.rows for o in ssm) / 50


def test_landing_is_fast(landed):
    assert landed[3] < 20, f"landing 3000 machines took {landed[3]:.1f}s"


def test_arc_mirrors_carry_the_connector_tags_of_their_cloud_machine(plan, records):
    arc = {r["id"]: r for r, _ in records["azure__arc_machines"]}
    ec2 = {r["InstanceId"]: ctx for r, ctx in records["aws__ec2_instances"]}
    gcp = {
        r["resource"]["data"]["id"]: r for r, _ in records["gcp__compute_instances"] if "id" in r["resource"]["data"]
    }
    mirrors = [m for m in plan if m.arc_resource_id]
    assert {m.kind for m in mirrors} == {"ec2", "gcp_vm"}
    for machine in mirrors:
        row = arc[machine.arc_resource_id]
        tags, props = row["tags"], row["properties"]
        assert tags["MDFCSecurityConnector"] == "true"
        if machine.kind == "ec2":
            assert props["cloudMetadata"]["provider"] == "AWS" and tags["Cloud"] == "AWS"
            assert tags["InstanceId"] == machine.native_id and row["name"] == machine.native_id
            assert ec2[tags["InstanceId"]]["account_id"] == tags["AccountId"]
        else:
            assert props["cloudMetadata"]["provider"] == "GCP" and tags["Cloud"] == "GCP"
            asset = gcp[tags["MachineId"]]
            assert asset["name"].endswith(
                f"/projects/{tags['ProjectId']}/zones/{machine.location}/instances/{tags['InstanceName']}"
            )
            assert asset["ancestors"][0] == f"projects/{tags['ProjectNumber']}"
    onprem = [r for r in arc.values() if r["properties"]["cloudMetadata"]["provider"] == "N/A"]
    assert len(onprem) == sum(1 for m in plan if m.kind == "arc")


def test_the_script_tag_vm_exists(plan, records):
    named = [
        r
        for r, _ in records["aws__ec2_instances"]
        if {"Key": "Name", "Value": "<script>alert(1)</script>"} in r.get("Tags", [])
    ]
    assert len(named) == 1
    assert [m.case for m in plan if "html_name" in m.flags] == ["not_installed"]


def _tags_of(record: dict[str, Any]) -> dict[str, str]:
    if "Tags" in record:
        return {t["Key"]: t["Value"] for t in record["Tags"]}
    if "resource" in record:
        return record["resource"]["data"].get("labels", {})
    return record.get("tags") or {}


def test_exemptions_and_owner_tags(plan, records):
    machine_rows = [
        r
        for d in (
            "azure__virtual_machines",
            "azure__arc_machines",
            "aws__ec2_instances",
            "gcp__compute_instances",
        )
        for r, _ in records[d]
    ]
    tagged = [_tags_of(r) for r in machine_rows]
    exempt = [t for t in tagged if EXEMPT_TAG in t]
    until = sorted(date.fromisoformat(t[EXEMPT_UNTIL_TAG]) for t in exempt)
    assert len(exempt) == sum(1 for m in plan if m.case == "exempt") + 1
    assert until[0] < SNAPSHOT < until[1], "exactly one exemption has expired"
    expired = [m for m in plan if m.exemption_expired]
    assert len(expired) == 1 and expired[0].case == "not_installed"
    owners = Counter(t.get(OWNER_TAG) for t in tagged)
    assert len(owners) == 9 and owners[None] > 0


def test_inventories_match_the_intended_evidence(plan, records):
    """EDR names show up for inventory-protected machines and never for not_installed ones."""
    names: dict[str, set[str]] = defaultdict(set)
    for row, _ in records["azure__change_tracking"]:
        names[row["_ResourceId"]].add(row.get("SoftwareName") or row.get("SvcName"))
    for entry, ctx in records["aws__ssm_applications"]:
        names[ctx["instance_id"]].add(entry["Name"])
    for asset, _ in records["gcp__os_inventories"]:
        for item in asset["osInventory"]["items"].values():
            package = next(iter(item.get("installedPackage", {}).values()), {})
            names[asset["name"]].add(package.get("packageName") or package.get("displayName"))
    for machine in plan:
        found = names.get(machine.machine_id.lower() if machine.cloud == "azure" else machine.machine_id, set())
        if machine.case == "not_installed":
            assert not found & EDR_SOFTWARE, (machine.index, found & EDR_SOFTWARE)
        if machine.scenario in ("third_party_inventory", "inventory_third_party") and machine.family != "linux":
            assert found & EDR_SOFTWARE, machine
    everything = set().union(*names.values())
    ordinary = {
        "7-Zip 23.01 (x64)",
        "Notepad++ (64-bit x64)",
        "Google Chrome",
        "openssh-server",
        "curl",
        "python3",
        "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33135",
    }
    decoys = {"McAfee WebAdvisor", "Symantec Backup Exec", "Sophos Connect", "McAfee Agent", "WinDefend"}
    assert ordinary <= everything and decoys <= everything


def test_mde_shows_as_msi_on_downlevel_windows_and_as_sense_on_2019_plus(plan, records):
    services = defaultdict(dict)
    software = defaultdict(set)
    for row, _ in records["azure__change_tracking"]:
        if row["ConfigDataType"] == "WindowsServices":
            services[row["_ResourceId"]][row["SvcName"]] = (row["SvcState"], row["SvcStartupType"])
        software[row["_ResourceId"]].add(row["SoftwareName"])
    checked = Counter()
    for m in plan:
        rid = m.machine_id.lower()
        if m.scenario != "mde_extension" or m.family != "windows" or rid not in services:
            continue
        assert services[rid]["Sense"] == ("Running", "Auto")
        assert ("Microsoft Defender for Endpoint" in software[rid]) == m.os.downlevel
        checked[m.os.downlevel] += 1
    assert checked[True] > 10 and checked[False] > 10
    idle_sense = [s["Sense"] for rid, s in services.items() if s.get("Sense") == ("Stopped", "Manual")]
    assert idle_sense, "Server 2019+ lists an idle Sense service when MDE is not onboarded"


def test_unhealthy_machines_show_failed_extensions_or_stopped_edr_services(plan, records):
    extensions = {
        r["id"].lower().rsplit("/extensions/", 1)[0]: r
        for r, _ in records["azure__machine_extensions"]
        if r["properties"]["type"].startswith("MDE.")
    }
    stopped_aws = {
        ctx["instance_id"]
        for e, ctx in records["aws__ssm_services"]
        if e["Status"] == "Stopped" and e["StartType"] == "Automatic"
    }
    for m in plan:
        if m.scenario in ("mde_extension_failed", "arc_mde_failed"):
            target = (m.arc_resource_id or m.machine_id).lower()
            assert extensions[target]["properties"]["provisioningState"] == "Failed"
        if m.scenario == "edr_service_stopped" and m.kind == "ec2":
            assert m.native_id in stopped_aws


def test_unknown_azure_vms_have_no_evidence(plan, records):
    with_ct = {r["_ResourceId"] for r, _ in records["azure__change_tracking"]}
    mde = {
        r["id"].lower().rsplit("/extensions/", 1)[0]
        for r, _ in records["azure__machine_extensions"]
        if r["properties"]["type"].startswith("MDE.")
    }
    for m in plan:
        if m.kind == "azure_vm" and m.scenario == "no_evidence":
            assert m.machine_id.lower() not in with_ct | mde


def test_change_tracking_holds_the_latest_inventory_per_machine(records):
    stamps = defaultdict(set)
    for row, _ in records["azure__change_tracking"]:
        if "TimeGenerated" in row:
            stamps[row["_ResourceId"]].add(row["TimeGenerated"])
    assert stamps and all(len(s) == 1 for s in stamps.values())


def test_power_states_are_realistic(plan, records):
    codes = Counter(
        (r["properties"].get("extended") or {}).get("instanceView", {}).get("powerState", {}).get("code", "missing")
        for r, _ in records["azure__virtual_machines"]
        if "properties" in r
    )
    assert {
        "PowerState/running",
        "PowerState/deallocated",
        "PowerState/stopped",
        "PowerState/starting",
        "PowerState/unknown",
        "missing",
    } <= set(codes)
    ec2 = Counter(r["State"]["Name"] for r, _ in records["aws__ec2_instances"] if "State" in r)
    assert {"running", "stopped", "pending", "stopping"} <= set(ec2)
    gce = Counter(r["resource"]["data"]["status"] for r, _ in records["gcp__compute_instances"])
    assert {"RUNNING", "TERMINATED", "STOPPING", "PROVISIONING"} <= set(gce)
    running = codes["PowerState/running"] + ec2["running"] + gce["RUNNING"]
    # ~85% of the long-lived machines run; the short-lived ones (about a fifth) all do
    assert 0.82 < running / (sum(codes.values()) + sum(ec2.values()) + sum(gce.values())) < 0.92
    assert 0 < ec2["terminated"] < 0.01 * len(plan)


def test_weekend_shutdown_vms_change_power_state_with_the_date(plan):
    weekend = [m for m in plan if "date_power" in m.flags]
    assert weekend

    def power(snapshot):
        rows = {
            r["id"]: r
            for p in demo_pages(MACHINES, SEED, snapshot, plan=plan)
            if p.dataset == "azure__virtual_machines"
            for r in p.records
        }
        return {rows[m.machine_id]["properties"]["extended"]["instanceView"]["powerState"]["code"] for m in weekend}

    saturday = SNAPSHOT + timedelta(days=1)
    assert power(saturday) <= {"PowerState/deallocated", "PowerState/stopped"}
    assert power(SNAPSHOT) == {"PowerState/running"}


def test_defender_plans_and_connectors(plan, records):
    pricings = [r for r, _ in records["azure__security_pricings"] if r["name"] == "VirtualMachines"]
    by_sub = {r["subscriptionId"]: r["properties"] for r in pricings if "/virtualMachines/" not in r["id"]}
    # SNAPSHOT is a Friday: the Plan 1 subscription is on its mid-week Plan 2
    assert sorted(p.get("subPlan", p["pricingTier"]) for p in by_sub.values()) == ["Free", "P2", "P2"]
    overrides = [r for r in pricings if "/virtualMachines/" in r["id"]]
    assert len(overrides) == 1 and overrides[0]["properties"]["pricingTier"] == "Free"
    connectors = [r["properties"] for r, _ in records["azure__security_connectors"]]
    assert Counter(c["environmentName"] for c in connectors) == {"AWS": 3, "GCP": 2}
    topo = topology(SEED)
    assert {c["hierarchyIdentifier"] for c in connectors} == {a.id for a in topo.aws_accounts} | {
        p.number for p in topo.gcp_projects if p.plan
    }


def test_assessments_agree_with_the_intended_verdict(plan, records):
    status = {
        r["properties"]["resourceDetails"]["Id"]: r["properties"]["status"]["code"]
        for r, _ in records["azure__security_assessments"]
        if r["name"].startswith("06e3a6db")
    }
    by_case = defaultdict(Counter)
    for m in plan:
        if m.machine_id in status:
            by_case[m.case][status[m.machine_id]] += 1
    assert set(by_case["protected"]) == {"Healthy"} | ({"NotApplicable"} & set(by_case["protected"]))
    assert "Healthy" not in by_case["not_installed"] and by_case["not_installed"]["Unhealthy"] > 0
    assert set(by_case["not_applicable"]) == {"NotApplicable"}


def test_connector_sub_plans_come_in_both_real_shapes_and_are_read(landed, records):
    shapes = {
        type(o.get("subPlan")).__name__
        for r, _ in records["azure__security_connectors"]
        for o in r["properties"]["offerings"]
        if o["offeringType"].startswith("DefenderForServers")
    }
    assert shapes == {"dict", "str"}
    lake = landed[0]
    table = pq.read_table(next((lake / "raw" / "azure__security_connectors").glob("*/*.parquet")))
    plans = sorted(r["servers_sub_plan"] for r in table.to_pylist() if r["servers_offering_type"])
    assert plans == ["P1", "P1", "P2", "P2"]


def test_records_are_what_the_real_connectors_land(pages, records):
    """Same Change Tracking columns, same assessment keys, same ``order by id`` as flows.sources.azure."""
    from flows.sources import azure as azure_source

    columns = {tuple(r) for r, _ in records["azure__change_tracking"] if "TimeGenerated" in r}
    assert columns == {azure_source.CHANGE_TRACKING_COLUMNS}
    keys = {r["name"] for r, _ in records["azure__security_assessments"]}
    assert keys <= set(azure_source.EDR_ASSESSMENT_KEYS)
    ids: dict[str, list[str]] = defaultdict(list)
    for page in pages:
        if page.dataset == "azure__virtual_machines":
            ids[page.scope] += [r["id"] for r in page.records]
    assert len(ids) == 3 and all(scoped == sorted(scoped) for scoped in ids.values())


def test_raw_json_is_kept_exactly(landed):
    lake = landed[0]
    path = next(Path(lake, "raw", "aws__ec2_instances").glob("*/*.parquet"))
    row = pq.read_table(path, columns=["instance_id", "raw_json"]).to_pylist()[0]
    assert json.loads(row["raw_json"])["InstanceId"] == row["instance_id"]
