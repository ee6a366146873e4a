"""Every catalogue rule, for every product and platform, recognises its evidence on the right platform."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests import builders as b
from transforms.build import build_database
from transforms.project import SQL_DIR

RULES = list(csv.DictReader((SQL_DIR / "seeds" / "edr_catalogue.csv").open(encoding="utf-8")))
DEFENDER_TABLE = {("mde", "windows"), ("mde", "linux"), ("crowdstrike", "windows"), ("crowdstrike", "linux"),
                  ("trellix", "windows"), ("trellix", "linux"), ("symantec", "windows"), ("symantec", "linux"),
                  ("sophos", "windows"), ("sophos", "linux"), ("sentinelone", "windows"), ("sentinelone", "linux"),
                  ("cortex_xdr", "windows"), ("cortex_xdr", "linux")}


def test_catalogue_covers_every_product_on_both_platforms():
    assert {(r["product_id"], r["platform"]) for r in RULES} == DEFENDER_TABLE


def test_catalogue_has_the_unified_solution_and_the_mde_extensions():
    names = {(r["product_name"], r["os_constraint"]) for r in RULES if r["product_id"] == "mde"}
    assert ("Microsoft Defender for Endpoint Unified Solution", "Windows Server 2012 R2 and 2016") in names
    patterns = {r["pattern"] for r in RULES if r["evidence_kind"] == "extension"}
    assert {"Microsoft.Azure.AzureDefenderForServers/MDE.Windows",
            "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"} <= patterns


def _records_for(rule: dict[str, str]) -> tuple[dict, str]:
    """An Azure VM of the rule's platform carrying exactly the rule's evidence."""
    windows = rule["platform"] == "windows"
    vm = b.azure_vm("m-1", os_type="Windows" if windows else "Linux",
                    os_name="Windows Server 2016 Datacenter" if windows else "ubuntu")
    value = rule["pattern"] + (" 7.11.0" if rule["match_type"] == "prefix" else "")
    records = {"azure__virtual_machines": [(vm, {})]}
    if rule["evidence_kind"] == "extension":
        publisher, ext_type = rule["pattern"].split("/")
        records["azure__machine_extensions"] = [(b.extension(vm, ext_type, publisher=publisher), {})]
    elif rule["evidence_kind"] == "software":
        records["azure__change_tracking"] = [(b.ct_row(vm, software=value), {})]
    else:
        kind = "WindowsServices" if windows else "Daemons"
        records["azure__change_tracking"] = [(b.ct_row(vm, service=value, kind=kind), {})]
    return records, value


@pytest.mark.parametrize("rule", RULES, ids=[r["rule_id"] for r in RULES])
def test_rule_recognises_its_evidence(tmp_path: Path, rule):
    records, _ = _records_for(rule)
    settings = b.land(tmp_path, records)
    build_database(settings, date(2026, 11, 28))
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        got = con.execute("select edr_status, edr_products from machine_edr_status").fetchone()
        rules = {r[0] for r in con.execute("select rule_id from edr_evidence").fetchall()}
    assert got == ("protected", rule["product_name"])
    assert rule["rule_id"] in rules


def test_rule_does_not_match_on_the_other_platform(tmp_path: Path):
    vm = b.azure_vm("m-2", os_type="Linux", os_name="ubuntu")
    settings = b.land(tmp_path, {"azure__virtual_machines": [(vm, {})],
                                 "azure__change_tracking": [(b.ct_row(vm, software="CrowdStrike Windows Sensor"), {})]})
    build_database(settings, date(2026, 11, 28))
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        assert con.execute("select edr_status from machine_edr_status").fetchone() == ("not_installed",)
