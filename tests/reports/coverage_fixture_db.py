"""A small analyst database with exactly the view contract the coverage report reads.

The views sit on ``raw_*`` tables the way the real models do. ``coverage_summary`` is aggregated here
from ``machine_edr_status`` (coverage = protected / running machines that are neither exempt nor not
applicable) the way ``sql/marts/coverage_summary.sql`` does, so the headline can be checked against a
figure computed by hand: of the 11 running assessable machines of snapshot 2026-03-14, 6 are protected
-> 54.5 %.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb

SNAPSHOT = date(2026, 3, 14)
PREVIOUS = date(2026, 3, 13)
SCRIPT_NAME = "<script>alert(1)</script>"
MDE = "Microsoft Defender for Endpoint"
FALCON = "CrowdStrike Falcon"

DDL = {
    "machines": """machine_key varchar, cloud varchar, scope_id varchar, machine_name varchar,
        host_name varchar, native_id varchar, os_family varchar, os_name varchar, power_state varchar,
        is_running boolean, owner varchar, region varchar, match_method varchar, snapshot_date date""",
    "machine_edr_status": """machine_key varchar, cloud varchar, scope_id varchar, machine_name varchar,
        os_family varchar, os_name varchar, power_state varchar, is_running boolean, owner varchar,
        edr_status varchar, status_reason varchar, edr_products varchar, evidence_source varchar,
        rule_id varchar, observed_at timestamp, plan_status varchar, plan_source varchar,
        exemption_reason varchar, exemption_expires date, snapshot_date date""",
    "recommendations": """machine_key varchar, cloud varchar, scope_id varchar, machine_name varchar,
        os_family varchar, recommendation_id varchar, recommendation varchar, severity varchar,
        edr_status varchar, plan_status varchar, remediation_action varchar, remediation_steps varchar,
        snapshot_date date""",
    "coverage_summary": """dimension varchar, dimension_value varchar, machines bigint,
        running_machines bigint, stopped_machines bigint, protected bigint, unhealthy bigint,
        not_installed bigint, unknown bigint, exempt bigint, not_applicable bigint, coverage_pct double,
        snapshot_date date""",
    "extract_runs": """run_id varchar, source varchar, cloud varchar, scope varchar, dataset varchar,
        status varchar, rows bigint, rejected_rows bigint, pages bigint, requests bigint,
        started_at timestamptz, finished_at timestamptz, error_class varchar, error_message varchar""",
}

# key, cloud, scope, name, os_family, os_name, power_state, status, reason, products, plan
MACHINES = [
    ("m01", "azure", "sub-aaa", "az-web-01", "windows", "Windows Server 2022", "running", "protected",
     "mde_extension_succeeded", MDE, "p2"),
    ("m02", "azure", "sub-aaa", "az-web-02", "linux", "Ubuntu 22.04", "running", "protected",
     "mde_extension_succeeded", MDE, "p2"),
    ("m03", "aws", "111122223333", "i-0aaa01", "linux", "Amazon Linux 2023", "running", "protected",
     "falcon_service_running", FALCON, "p2"),
    ("m04", "aws", "111122223333", SCRIPT_NAME, "windows", "Windows Server 2019", "running", "not_installed",
     "no_edr_in_inventory", None, "p1"),
    ("m05", "gcp", "proj-alpha", "gce-api-01", "linux", "Debian 12", "running", "unhealthy",
     "mde_onboarding_failed", MDE, "p2"),
    ("m06", "gcp", "proj-alpha", "gce-batch-01", "linux", "Debian 12", "running", "unknown",
     "inventory_stale", None, "unknown"),
    ("m07", "azure", "sub-bbb", "az-sql-01", "windows", "Windows Server 2016", "running", "exempt",
     "exempt_until_2026-12-31", None, "p2"),
    ("m08", "azure", "sub-bbb", "az-fw-01", "other", "FortiOS", "running", "not_applicable",
     "unsupported_os", None, "p2"),
    ("m09", "aws", "444455556666", "i-0bbb02", "linux", "Ubuntu 24.04", "running", "protected",
     "mde_and_falcon_running", f"{MDE}, {FALCON}", "p2"),
    ("m10", "aws", "444455556666", "i-0bbb03", "linux", "Ubuntu 24.04", "running", "not_installed",
     "no_edr_in_inventory", None, "p2"),
    ("m11", "gcp", "proj-alpha", "gce-web-02", "linux", "Debian 12", "running", "protected",
     "mde_sensor_healthy", MDE, "p2"),
    ("m15", "aws", "444455556666", "i-0bbb05", "linux", "Ubuntu 24.04", "running", "not_installed",
     "no_edr_in_fresh_inventory", None, "p2"),
    ("m16", "azure", "sub-aaa", "az-web-03", "windows", "Windows Server 2022", "running", "protected",
     "healthy_extension_evidence", MDE, "p2"),
    ("m12", "azure", "sub-aaa", "az-old-01", "windows", "Windows Server 2012 R2", "stopped", "not_installed",
     "no_edr_in_inventory", None, "off"),
    ("m13", "aws", "111122223333", "i-0ccc04", "linux", "Amazon Linux 2", "stopped", "protected",
     "falcon_service_running", FALCON, "p2"),
    ("m14", "gcp", "proj-alpha", "gce-tmp-01", "linux", "Debian 12", "transitioning", "unknown",
     "source_failed", None, "unknown"),
]
#: Yesterday's snapshot still in the views: must not show up.
OLD_MACHINE = ("m99", "azure", "sub-aaa", "yesterday-vm", "linux", "Ubuntu 20.04", "running", "not_installed",
               "no_edr_in_inventory", None, "p2")

EC2_REC = "EDR solution should be installed on EC2s"
EC2_STEPS = ("1. Open Defender for Cloud > Environment settings.\n"
             "2. Select the AWS connector & set Servers to <Plan 2>.\n"
             "3. Wait up to 24 hours for auto-provisioning.")
# key, recommendation id, recommendation, severity, action, steps
RECOMMENDATIONS = [
    ("m04", "aws-edr-1", EC2_REC, "High", "Upgrade Defender plan", EC2_STEPS),
    ("m10", "aws-edr-1", EC2_REC, "High", "Enable Microsoft Defender for Endpoint integration",
     "Console: Defender for Cloud > Environment settings > 444455556666 > Integrations\n"
     "CLI: aws ssm send-command --instance-ids i-0bbb03 --document-name AWS-RunShellScript"),
    ("m15", "aws-edr-1", EC2_REC, "High", "Enable Microsoft Defender for Endpoint integration",
     "Console: Defender for Cloud > Environment settings > 444455556666 > Integrations\n"
     "CLI: aws ssm send-command --instance-ids i-0bbb05 --document-name AWS-RunShellScript"),
    ("m05", "edr-config-1", "EDR configuration issues should be resolved on virtual machines", "Medium",
     "Troubleshoot onboarding", "Run the MDE client analyzer.\nReinstall the extension."),
    ("m06", "inventory-1", "Machines should report software inventory", "Low", "Enable inventory collection",
     "Install the OS Config agent."),
    ("m12", "vm-edr-1", "EDR solution should be installed on virtual machines", "High",
     "Enable Microsoft Defender for Endpoint integration", "Enable the MDE extension."),
]

RUN = "2026-03-14-abc123"
# run, source, cloud, scope, dataset, status, rows, rejected, error_class, error_message, started_hour
DEFAULT_RUNS = [
    ("2026-03-13-old000", "gcp_cloud_asset", "gcp", "old-failed-scope", "gcp__compute_instances", "failed",
     0, 0, "DeadlineExceeded", "timed out", datetime(2026, 3, 13, 2)),
    (RUN, "azure_resource_graph", "azure", "sub-aaa", "azure__virtual_machines", "ok", 3, 0, None, None,
     datetime(2026, 3, 14, 2)),
    (RUN, "aws_api", "aws", "111122223333/eu-west-1", "aws__ec2_instances", "ok", 5, 2, None, None,
     datetime(2026, 3, 14, 2)),
    (RUN, "gcp_cloud_asset", "gcp", "proj-beta", "gcp__os_inventories", "failed", 0, 0, "PermissionDenied",
     "caller lacks cloudasset.assets.listResource on projects/proj-beta", datetime(2026, 3, 14, 2)),
    (RUN, "aws_api", "aws", "444455556666/us-east-1", "aws__ssm_applications", "skipped", 0, 0, None,
     "SSM inventory not enabled", datetime(2026, 3, 14, 2)),
]
OK_RUNS = [r for r in DEFAULT_RUNS if r[0] == RUN and r[5] == "ok" and r[7] == 0]

COVERAGE_SUMMARY_SQL = """
insert into raw_coverage_summary
with dims as (
    select 'overall' as dimension, 'all machines' as dimension_value, * from raw_machine_edr_status
    union all select 'cloud', cloud, * from raw_machine_edr_status
    union all select 'scope', cloud || ' ' || scope_id, * from raw_machine_edr_status
    union all select 'os_family', os_family, * from raw_machine_edr_status
    union all select 'plan_status', plan_status, * from raw_machine_edr_status
    union all select 'edr_product', '(none found)', * from raw_machine_edr_status where edr_products is null
    union all select 'edr_product', trim(p.product), m.*
        from raw_machine_edr_status m, unnest(string_split(m.edr_products, ',')) as p(product)
        where m.edr_products is not null
)
select dimension, dimension_value, count(*),
    count(*) filter (where is_running), count(*) filter (where power_state = 'stopped'),
    count(*) filter (where is_running and edr_status = 'protected'),
    count(*) filter (where is_running and edr_status = 'unhealthy'),
    count(*) filter (where is_running and edr_status = 'not_installed'),
    count(*) filter (where is_running and edr_status = 'unknown'),
    count(*) filter (where is_running and edr_status = 'exempt'),
    count(*) filter (where is_running and edr_status = 'not_applicable'),
    round(100.0 * count(*) filter (where is_running and edr_status = 'protected')
        / nullif(count(*) filter (where is_running and edr_status not in ('exempt', 'not_applicable')), 0),
        2),
    snapshot_date
from dims group by dimension, dimension_value, snapshot_date
"""


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """The ``raw_*`` tables and the contract views over them, empty."""
    for view, columns in DDL.items():
        con.execute(f"create table raw_{view} ({columns})")
        con.execute(f"create view {view} as select * from raw_{view}")


def insert_machine(con: duckdb.DuckDBPyConnection, machine: tuple, snapshot: date) -> None:
    key, cloud, scope, name, os_family, os_name, power, status, reason, products, plan = machine
    running = power == "running"
    con.execute("insert into raw_machines values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [key, cloud, scope, name, name.lower(), f"native-{key}", os_family, os_name, power, running,
                 "team-platform", "westeurope", "native_id", snapshot])
    con.execute("insert into raw_machine_edr_status values "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [key, cloud, scope, name, os_family, os_name, power, running, "team-platform", status, reason,
                 products, "inventory", f"rule-{status}", datetime(2026, 3, 14, 1, 30), plan, "pricing",
                 "vendor-managed appliance" if status == "exempt" else None,
                 date(2026, 12, 31) if status == "exempt" else None, snapshot])


def insert_runs(con: duckdb.DuckDBPyConnection, runs: list[tuple]) -> None:
    for run, source, cloud, scope, dataset, status, n, rejected, err_class, err_msg, started in runs:
        con.execute("insert into raw_extract_runs values (?, ?, ?, ?, ?, ?, ?, ?, 1, 1, ?, ?, ?, ?)",
                    [run, source, cloud, scope, dataset, status, n, rejected, f"{started.isoformat()}+00",
                     f"{started.replace(minute=30).isoformat()}+00", err_class, err_msg])


def build_fixture_db(path: Path, *, runs: list[tuple] | None = None, machines: bool = True) -> Path:
    """Write the fixture database to ``path`` and return it."""
    con = duckdb.connect(str(path))
    try:
        create_schema(con)
        if machines:
            for machine in MACHINES:
                insert_machine(con, machine, SNAPSHOT)
            insert_machine(con, OLD_MACHINE, PREVIOUS)
            by_key = {m[0]: m for m in (*MACHINES, OLD_MACHINE)}
            for key, rec_id, text, severity, action, steps in [
                *RECOMMENDATIONS, ("m99", "old-1", "Yesterday's recommendation", "High", "Old action", "Old")
            ]:
                m = by_key[key]
                snapshot = PREVIOUS if key == "m99" else SNAPSHOT
                con.execute("insert into raw_recommendations values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [key, m[1], m[2], m[3], m[4], rec_id, text, severity, m[7], m[10], action, steps,
                             snapshot])
            con.execute(COVERAGE_SUMMARY_SQL)
        insert_runs(con, DEFAULT_RUNS if runs is None else runs)
    finally:
        con.close()
    return path
