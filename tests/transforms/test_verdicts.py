"""Given raw API records -> expected verdicts, one scenario per case, through the real landing and build."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from tests import builders as b
from transforms.build import build_database

CTX_AWS = {"account_id": b.ACCOUNT, "region": "eu-west-1"}


def build(tmp_path, records, **kwargs):
    settings = b.land(tmp_path, records, **kwargs)
    build_database(settings, date(2026, 11, 28))
    return duckdb.connect(str(settings.output.database_path), read_only=True)


def status(con, machine_name):
    return con.execute("select edr_status, status_reason, edr_products, plan_status from machine_edr_status "
                       "where machine_name = ?", [machine_name]).fetchone()


def ec2(instance_id, **kwargs):
    return (b.ec2_instance(instance_id, **kwargs), {**CTX_AWS, "reservation_id": "r-1"})


def app(instance_id, name, capture="2026-11-27T23:00:00Z"):
    return ({"Name": name, "Version": "1.0"}, {**CTX_AWS, "instance_id": instance_id, "capture_time": capture})


def test_mde_extension_succeeded_is_protected(tmp_path):
    vm = b.azure_vm("web-1")
    con = build(tmp_path, {"azure__virtual_machines": [(vm, {})],
                           "azure__machine_extensions": [(b.extension(vm), {})],
                           "azure__security_pricings": [(b.pricing(), {})]})
    assert status(con, "web-1") == ("protected", "healthy_extension_evidence",
                                    "Microsoft Defender for Endpoint", "p2")
    evidence = con.execute("select evidence_source, rule_id, health from edr_evidence").fetchall()
    assert evidence == [("azure_extension", "mde.windows.extension.1", "healthy")]


def test_mde_extension_failed_is_unhealthy_with_troubleshoot(tmp_path):
    vm = b.azure_vm("web-2")
    con = build(tmp_path, {"azure__virtual_machines": [(vm, {})],
                           "azure__machine_extensions": [(b.extension(vm, state="Failed"), {})],
                           "azure__security_pricings": [(b.pricing(), {})]})
    assert status(con, "web-2")[:2] == ("unhealthy", "extension_failed")
    rec = con.execute("select recommendation, remediation_action, remediation_steps from recommendations").fetchone()
    assert rec[0] == "EDR configuration issues should be resolved on virtual machines"
    assert rec[1] == "Troubleshoot onboarding"
    assert "MDE.Windows" in rec[2] and "{native_id}" not in rec[2]


def test_fresh_inventory_without_edr_is_not_installed_and_decoys_do_not_match(tmp_path):
    records = {"aws__ec2_instances": [ec2("i-0000000000000aa01")],
               "aws__ssm_instance_information": [(b.ssm_info("i-0000000000000aa01"), CTX_AWS)],
               "aws__ssm_applications": [app("i-0000000000000aa01", n) for n in
                                         ("curl", "McAfee WebAdvisor", "Symantec Backup Exec", "Sophos Connect")]}
    con = build(tmp_path, records)
    assert status(con, "i-0000000000000aa01") == ("not_installed", "no_edr_in_fresh_inventory", None, "unknown")
    rec = con.execute("select recommendation, severity, remediation_action from recommendations").fetchone()
    assert rec == ("EDR solution should be installed on EC2s", "High", "Upgrade Defender plan")


def test_plan_two_gives_enable_mde_integration(tmp_path):
    vm = b.azure_vm("web-3")
    records = {"azure__virtual_machines": [(vm, {})], "azure__security_pricings": [(b.pricing(), {})],
               "azure__change_tracking": [(b.ct_row(vm, software="7-Zip 23.01 (x64)"), {})]}
    con = build(tmp_path, records)
    assert status(con, "web-3")[0] == "not_installed"
    assert con.execute("select recommendation, remediation_action from recommendations").fetchone() == (
        "EDR solution should be installed on Virtual Machines", "Enable Microsoft Defender for Endpoint integration")


def test_crowdstrike_in_ssm_inventory_is_protected(tmp_path):
    iid = "i-0000000000000aa02"
    records = {"aws__ec2_instances": [ec2(iid, platform="windows")],
               "aws__ssm_instance_information": [
                   (b.ssm_info(iid, platform="Windows", name="Microsoft Windows Server 2022 Datacenter"), CTX_AWS)],
               "aws__ssm_applications": [app(iid, "CrowdStrike Windows Sensor")]}
    con = build(tmp_path, records)
    assert status(con, iid)[:3] == ("protected", "healthy_software_evidence", "CrowdStrike Falcon")


def test_stopped_edr_service_is_unhealthy(tmp_path):
    vm = b.azure_vm("db-1")
    records = {"azure__virtual_machines": [(vm, {})],
               "azure__change_tracking": [(b.ct_row(vm, service="CSFalconService", state="Stopped"), {})]}
    con = build(tmp_path, records)
    assert status(con, "db-1")[:3] == ("unhealthy", "service_not_running", "CrowdStrike Falcon")


def test_no_ssm_agent_is_unknown_never_not_installed(tmp_path):
    con = build(tmp_path, {"aws__ec2_instances": [ec2("i-0000000000000aa03")]})
    assert status(con, "i-0000000000000aa03")[:2] == ("unknown", "no_inventory_agent")
    rec = con.execute("select recommendation_id, remediation_action, remediation_steps from recommendations").fetchone()
    assert rec[:2] == ("inventory_missing_aws", "Enable inventory collection")
    assert "AWS-GatherSoftwareInventory" in rec[2]


def test_stale_inventory_is_unknown(tmp_path):
    inst = b.gcp_instance("batch-1")
    records = {"gcp__compute_instances": [(inst, {})],
               "gcp__os_inventories": [(b.gcp_inventory(inst, ["curl"], updated="2026-10-01T00:00:00Z"), {})]}
    con = build(tmp_path, records)
    assert status(con, "batch-1")[:2] == ("unknown", "inventory_stale")


def test_failed_source_scope_is_unknown_source_failed(tmp_path):
    iid = "i-0000000000000aa04"
    records = {"aws__ec2_instances": [ec2(iid)],
               "aws__ssm_instance_information": [(b.ssm_info(iid), CTX_AWS)],
               "aws__ssm_applications": [app(iid, "curl")]}
    con = build(tmp_path, records, failed=[("aws", "test", "aws__ssm_applications")])
    assert status(con, iid)[:2] == ("unknown", "source_failed")
    assert con.execute("select remediation_action from recommendations").fetchone() == ("Restore source access",)


def test_active_exemption_is_exempt_and_expired_one_is_not(tmp_path):
    active = b.ec2_instance("i-0000000000000aa05", tags={"edrcov-exempt": "appliance",
                                                          "edrcov-exempt-until": "2027-01-31"})
    expired = b.ec2_instance("i-0000000000000aa06", tags={"edrcov-exempt": "pilot",
                                                           "edrcov-exempt-until": "2026-11-01"})
    ctx = {**CTX_AWS, "reservation_id": "r-1"}
    records = {"aws__ec2_instances": [(active, ctx), (expired, ctx)],
               "aws__ssm_instance_information": [(b.ssm_info("i-0000000000000aa06"), CTX_AWS)],
               "aws__ssm_applications": [app("i-0000000000000aa06", "curl")]}
    con = build(tmp_path, records)
    assert status(con, "i-0000000000000aa05")[:2] == ("exempt", "exempt_until_2027-01-31")
    assert status(con, "i-0000000000000aa06")[0] == "not_installed"


@pytest.mark.parametrize("license_name", ["cos-stable", "freebsd-14"])
def test_unsupported_os_is_not_applicable(tmp_path, license_name):
    inst = b.gcp_instance("appliance-1", license=license_name)
    con = build(tmp_path, {"gcp__compute_instances": [(inst, {})]})
    assert status(con, "appliance-1")[:2] == ("not_applicable", "unsupported_os")


def test_arc_server_that_is_an_ec2_instance_is_counted_once_with_its_evidence(tmp_path):
    iid = "i-0000000000000aa07"
    arc = b.arc_machine(iid, provider="AWS", tags={"AccountId": b.ACCOUNT, "InstanceId": iid,
                                                   "MDFCSecurityConnector": "true"})
    records = {"aws__ec2_instances": [ec2(iid)], "azure__arc_machines": [(arc, {})],
               "azure__machine_extensions": [(b.extension(arc, "MDE.Linux"), {})]}
    con = build(tmp_path, records)
    assert con.execute("select count(*) from machines").fetchone() == (1,)
    assert con.execute("select cloud, match_method from machines").fetchone() == ("aws", "instance_id")
    assert status(con, iid)[0] == "protected"
    assert con.execute("select via from edr_evidence").fetchone() == ("arc",)


def test_power_state_vocabularies(tmp_path):
    records = {"azure__virtual_machines": [(b.azure_vm("a-dealloc", power="PowerState/deallocated"), {}),
                                           (b.azure_vm("a-noview", power=None), {})],
               "gcp__compute_instances": [(b.gcp_instance("g-term", status="TERMINATED"), {})],
               "aws__ec2_instances": [ec2("i-0000000000000aa08", state="terminated"),
                                      ec2("i-0000000000000aa09", state="pending")]}
    con = build(tmp_path, records)
    got = dict(con.execute("select machine_name, power_state from machines").fetchall())
    assert got == {"a-dealloc": "stopped", "a-noview": "unknown", "g-term": "stopped",
                   "i-0000000000000aa08": "deleted", "i-0000000000000aa09": "transitioning"}


def test_plan_precedence_resource_pricing_then_subscription_then_config(tmp_path):
    vm1, vm2 = b.azure_vm("p-1"), b.azure_vm("p-2")
    records = {"azure__virtual_machines": [(vm1, {}), (vm2, {})],
               "azure__security_pricings": [(b.pricing(sub_plan="P1"), {}),
                                            (b.pricing(tier="Free", sub_plan=None, scope=vm2["id"]), {})],
               "aws__ec2_instances": [ec2("i-0000000000000aa10")]}
    settings = b.land(tmp_path, records)
    settings = settings.model_copy(update={"plans": settings.plans.model_copy(
        update={"aws_accounts": {b.ACCOUNT: "p2"}})})
    build_database(settings, date(2026, 11, 28))
    con = duckdb.connect(str(settings.output.database_path), read_only=True)
    query = "select machine_name, plan_status || '/' || plan_source from machine_edr_status"
    plans = dict(con.execute(query).fetchall())
    assert plans == {"p-1": "p1/subscription_pricing", "p-2": "off/resource_pricing",
                     "i-0000000000000aa10": "p2/config_override"}



def test_plan_candidates_of_equal_precedence_give_the_fuller_plan(tmp_path):
    """A GCP project configured under both its id and its number: the fuller plan wins, whichever order."""
    for by_id, by_number, expected in (("p1", "p2", "p2"), ("p2", "off", "p2"), ("off", "p1", "p1")):
        root = tmp_path / f"{by_id}-{by_number}"
        settings = b.land(root, {"gcp__compute_instances": [(b.gcp_instance("g-plan"), {})]})
        settings = settings.model_copy(update={"plans": settings.plans.model_copy(
            update={"gcp_projects": {b.PROJECT: by_id, b.PROJECT_NUMBER: by_number}})})
        build_database(settings, date(2026, 11, 28))
        with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
            assert con.execute("select plan_status, plan_source from machine_edr_status").fetchall() == [
                (expected, "config_override")]

def test_coverage_is_over_running_machines(tmp_path):
    on, off = b.azure_vm("on-1"), b.azure_vm("off-1", power="PowerState/deallocated")
    records = {"azure__virtual_machines": [(on, {}), (off, {})],
               "azure__machine_extensions": [(b.extension(on), {})]}
    con = build(tmp_path, records)
    row = con.execute("select running_machines, stopped_machines, protected, coverage_pct from coverage_summary "
                      "where dimension = 'overall'").fetchone()
    assert row == (1, 1, 1, 100.0)


def test_machines_of_a_scope_whose_listing_failed_are_carried_forward_as_unknown(tmp_path):
    iid = "i-0000000000000aa11"
    b.land(tmp_path, {"aws__ec2_instances": [ec2(iid)],
                      "aws__ssm_instance_information": [(b.ssm_info(iid), CTX_AWS)],
                      "aws__ssm_applications": [app(iid, "curl")]}, snapshot=date(2026, 11, 27))
    con = build(tmp_path, {"gcp__compute_instances": [(b.gcp_instance("g-1"), {})]},
                failed=[("aws", "test", "aws__ec2_instances")])
    row = con.execute("select m.carried_from, s.edr_status, s.status_reason from machines m "
                      "join machine_edr_status s using (machine_key) where m.native_id = ?", [iid]).fetchone()
    assert row == (date(2026, 11, 27), "unknown", "source_failed")


def test_idle_builtin_sense_service_is_not_an_edr(tmp_path):
    vm = b.azure_vm("w2022-1", os_name="Windows Server 2022 Datacenter")
    records = {"azure__virtual_machines": [(vm, {})],
               "azure__change_tracking": [(b.ct_row(vm, service="Sense", state="Stopped", start="Manual"), {}),
                                          (b.ct_row(vm, software="7-Zip 23.01 (x64)"), {})]}
    con = build(tmp_path, records)
    assert status(con, "w2022-1")[:2] == ("not_installed", "no_edr_in_fresh_inventory")


def test_installed_edr_with_its_service_stopped_is_unhealthy_and_says_why(tmp_path):
    vm = b.azure_vm("w2016-1", os_name="Windows Server 2016 Datacenter")
    records = {"azure__virtual_machines": [(vm, {})],
               "azure__change_tracking": [(b.ct_row(vm, software="Sophos Endpoint Agent"), {}),
                                          (b.ct_row(vm, service="SAVService", state="Stopped"), {})]}
    con = build(tmp_path, records)
    assert status(con, "w2016-1")[:3] == ("unhealthy", "service_not_running", "Sophos Intercept X")


def test_edr_seen_only_in_stale_inventory_is_unknown_not_protected(tmp_path):
    inst = b.gcp_instance("old-1")
    records = {"gcp__compute_instances": [(inst, {})],
               "gcp__os_inventories": [(b.gcp_inventory(inst, ["falcon-sensor"], updated="2026-11-01T00:00:00Z"), {})]}
    con = build(tmp_path, records)
    assert status(con, "old-1")[:2] == ("unknown", "inventory_stale")
    assert con.execute("select is_fresh from edr_evidence").fetchone() == (False,)


def test_freebsd_reported_as_linux_is_not_applicable(tmp_path):
    vm = b.azure_vm("bsd-1", os_type="Linux", os_name="freebsd")
    con = build(tmp_path, {"azure__virtual_machines": [(vm, {})]})
    assert status(con, "bsd-1")[:2] == ("not_applicable", "unsupported_os")


def test_decisive_evidence_prefers_a_healthy_product_and_names_third_party_only_protection(tmp_path):
    """A failed MDE next to a healthy CrowdStrike: protected by CrowdStrike (its own row decides, not the
    newer failed extension), and third-party only. With MDE healthy too, the newest healthy row decides and
    the machine is not third-party only. A product with both a failed and a healthy row counts as failed."""
    failed_mde, both = b.azure_vm("mixed-1"), b.azure_vm("mixed-2")
    flapping = b.azure_vm("flap-1")
    records = {"azure__virtual_machines": [(failed_mde, {}), (both, {}), (flapping, {})],
               "azure__machine_extensions": [(b.extension(failed_mde, state="Failed"), {}),
                                             (b.extension(both), {})],
               "azure__change_tracking": [
                   (b.ct_row(failed_mde, software="CrowdStrike Windows Sensor"), {}),
                   (b.ct_row(both, software="CrowdStrike Windows Sensor"), {}),
                   (b.ct_row(flapping, software="CrowdStrike Windows Sensor"), {}),
                   (b.ct_row(flapping, service="CSFalconService", state="Stopped"), {})]}
    con = build(tmp_path, records)
    rows = dict((r[0], r[1:]) for r in con.execute(
        "select machine_name, edr_status, edr_products, evidence_source, rule_id, third_party_edr_only "
        "from machine_edr_status").fetchall())
    assert rows["mixed-1"] == ("protected", "CrowdStrike Falcon", "azure_change_tracking",
                               "crowdstrike.windows.software.1", True)
    assert rows["mixed-2"] == ("protected", "CrowdStrike Falcon, Microsoft Defender for Endpoint",
                               "azure_extension", "mde.windows.extension.1", False)
    assert rows["flap-1"] == ("unhealthy", "CrowdStrike Falcon", "azure_change_tracking",
                              "crowdstrike.windows.service.1", False)
