"""The two yardsticks the build is measured against.

- The physical floor: one DuckDB scan of every raw dataset's columns that the models read (the least any
  implementation must do: read the inputs once).
- The pandas baseline: the straightforward verdict an analyst would write: machines joined to installed
  software and the catalogue's rules, EDR found -> protected, else fresh inventory -> not installed.
"""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from flows.lake.datasets import DATASETS
from transforms.project import SqlProject


def columns_read_by_models(project: SqlProject | None = None) -> dict[str, list[str]]:
    """For each raw dataset, the columns its staging model selects (staging is the only reader of raw)."""
    project = project or SqlProject()
    read: dict[str, list[str]] = {}
    for model in project.models.values():
        for dataset in re.findall(r"\braw\.(\w+)", model.sql):
            if dataset in DATASETS:
                words = set(re.findall(r"\b\w+\b", model.sql))
                read[dataset] = [c for c in DATASETS[dataset].schema.names if c in words]
    return read


def physical_floor(lake_dir: Path) -> dict:
    con = duckdb.connect()
    started = time.perf_counter()
    rows = 0
    for dataset, columns in columns_read_by_models().items():
        files = list((Path(lake_dir) / "raw" / dataset).glob("snapshot_date=*/*.parquet"))
        if not files or not columns:
            continue
        glob = str(Path(lake_dir) / "raw" / dataset / "snapshot_date=*" / "*.parquet")
        cols = ", ".join(columns)
        rows += con.execute(f"select count(*), sum(hash({cols})) from read_parquet('{glob}')").fetchone()[0]
    return {"floor_s": time.perf_counter() - started, "rows_scanned": rows}


def pandas_core_verdict(lake_dir: Path, night: date) -> dict:
    """Machines x installed software x catalogue in pandas, as an analyst would write it."""
    import pandas as pd

    lake = Path(lake_dir) / "raw"
    started = time.perf_counter()

    def read(dataset: str, columns: list[str]) -> pd.DataFrame:
        files = sorted((lake / dataset).glob(f"snapshot_date={night.isoformat()}/*.parquet"))
        if not files:
            return pd.DataFrame(columns=columns)
        return pd.concat([pd.read_parquet(f, columns=columns) for f in files], ignore_index=True)

    ec2 = read("aws__ec2_instances", ["instance_id", "account_id", "platform"])
    ec2["machine"] = ec2["account_id"] + ":" + ec2["instance_id"]
    ec2["os"] = ec2["platform"].fillna("linux").str.lower()
    vms = read("azure__virtual_machines", ["resource_id", "os_type"])
    vms["machine"], vms["os"] = vms["resource_id"], vms["os_type"].str.lower()
    gcp = read("gcp__compute_instances", ["asset_name", "boot_licenses"])
    gcp["machine"] = gcp["asset_name"]
    gcp["os"] = gcp["boot_licenses"].fillna("").str.contains("windows").map({True: "windows", False: "linux"})
    machines = pd.concat([ec2[["machine", "os"]], vms[["machine", "os"]], gcp[["machine", "os"]]])

    apps = read("aws__ssm_applications", ["account_id", "instance_id", "name", "capture_time"])
    apps["machine"] = apps["account_id"] + ":" + apps["instance_id"]
    apps = apps.rename(columns={"capture_time": "seen"})
    ct = read("azure__change_tracking", ["machine_resource_id", "software_name", "time_generated"])
    ct = ct.rename(columns={"machine_resource_id": "machine", "software_name": "name", "time_generated": "seen"})
    inv = read("gcp__os_inventories", ["asset_name", "packages", "inventory_update_time"])
    inv = inv.explode("packages").dropna(subset=["packages"])
    inv["name"] = inv["packages"].map(lambda p: p["name"])
    inv = inv.rename(columns={"asset_name": "machine", "inventory_update_time": "seen"})
    software = pd.concat([apps[["machine", "name", "seen"]], ct[["machine", "name", "seen"]],
                          inv[["machine", "name", "seen"]]])
    software["name_lc"] = software["name"].str.lower()

    rules = pd.read_csv(SqlProject().root / "seeds" / "edr_catalogue.csv")
    rules = rules[rules["evidence_kind"] == "software"]
    rules["name_lc"] = rules["pattern"].str.lower()
    hits = software.merge(rules[["name_lc", "product_id", "platform"]], on="name_lc")
    hits = hits.merge(machines, on="machine")
    hits = hits[hits["platform"] == hits["os"]]
    protected = set(hits["machine"])
    cutoff = pd.Timestamp(night + timedelta(days=1), tz="UTC") - pd.Timedelta(days=7)
    fresh = set(software.loc[software["seen"] >= cutoff, "machine"])
    machines["verdict"] = machines["machine"].map(
        lambda m: "protected" if m in protected else ("not_installed" if m in fresh else "unknown"))
    counts = machines["verdict"].value_counts().to_dict()
    return {"pandas_s": time.perf_counter() - started, "verdicts": counts, "software_rows": len(software)}
