"""A small analyst database with exactly the view contract the coverage report reads.

The views sit on ``raw_*`` tables the way the real models do. ``coverage_summary`` is aggregated here
from ``machine_edr_status`` (coverage = protected / running machines that are neither exempt nor not
applicable) the way ``sql/marts/coverage_summary.sql`` does, so the headline can be checked against a
figure computed by hand: of the 11 running assessable machines of snapshot 2026-03-14, 6 are protected
-> 54.5 %.

The history views hold exactly their documented columns (``sql/schema.yml``):

* ``coverage_daily``: five nights, 2026-03-10 to 2026-03-14. The first four are written by hand
  (``TREND_ROWS``); tonight's rows are aggregated from ``machine_edr_status`` as
  ``sql/marts/coverage_daily.sql`` does. Coverage per night (protected / (running - exempt - not
  applicable)): 3/10 = 30.0 %, 4/10 = 40.0 %, 4/10 = 40.0 %, 5/10 = 50.0 %, 6/11 = 54.5 %.
* ``coverage_changes``: tonight against 2026-03-13 (``CHANGES``), and one stale row of an older night
  that must not show.
* ``time_to_protect``: seven machines first seen after 2026-03-10 (``TIME_TO_PROTECT``).
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
    "coverage_changes": """change_type varchar, machine_key varchar, cloud varchar, scope_id varchar,
        machine_name varchar, owner varchar, previous_status varchar, current_status varchar, detail varchar,
        previous_night date, snapshot_date date""",
    "coverage_daily": """snapshot_date date, cloud varchar, scope_id varchar, os_family varchar, machines bigint,
        running_machines bigint, protected bigint, unhealthy bigint, not_installed bigint, unknown bigint,
        exempt bigint, not_applicable bigint, coverage_pct double""",
    "time_to_protect": """machine_key varchar, cloud varchar, scope_id varchar, machine_name varchar,
        owner varchar, first_seen date, first_protected date, days_to_protect bigint,
        days_unprotected_so_far bigint""",
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

FIRST_NIGHT = date(2026, 3, 10)
# snapshot, cloud, scope, os, machines, running, protected, unhealthy, not_installed, unknown, exempt, n/a
# (coverage_pct is computed on insert). Tonight's rows come from machine_edr_status (COVERAGE_DAILY_SQL).
TREND_ROWS = [
    *[(night, "azure", "sub-bbb", "windows", 2, 2, 0, 0, 0, 0, 1, 1)  # running 2, assessable 0, every night
      for night in (date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12), PREVIOUS)],
    *[(night, "aws", "111122223333", "linux", 5, 4, 2, 0, 2, 0, 0, 0)  # 2 of 4, every night
      for night in (date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12), PREVIOUS)],
    *[(night, "gcp", "proj-alpha", "linux", 2, 2, 0, 1, 0, 1, 0, 0)  # 0 of 2, every night
      for night in (date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12), PREVIOUS)],
    (date(2026, 3, 10), "azure", "sub-aaa", "windows", 4, 4, 1, 0, 3, 0, 0, 0),  # total 3 of 10 = 30.0 %
    (date(2026, 3, 11), "azure", "sub-aaa", "windows", 4, 4, 2, 0, 2, 0, 0, 0),  # total 4 of 10 = 40.0 %
    (date(2026, 3, 12), "azure", "sub-aaa", "windows", 4, 4, 2, 1, 1, 0, 0, 0),  # total 4 of 10 = 40.0 %
    (PREVIOUS, "azure", "sub-aaa", "windows", 4, 4, 3, 1, 0, 0, 0, 0),  # total 5 of 10 = 50.0 %
]
#: Night by night: (night, protected, assessable, coverage %), and per cloud (protected, assessable).
TREND_EXPECTED = [
    (date(2026, 3, 10), 3, 10, 30.0), (date(2026, 3, 11), 4, 10, 40.0), (date(2026, 3, 12), 4, 10, 40.0),
    (PREVIOUS, 5, 10, 50.0), (SNAPSHOT, 6, 11, 54.55),
]
TREND_TONIGHT_BY_CLOUD = {"azure": (3, 3), "aws": (2, 5), "gcp": (1, 3)}  # 100.0 %, 40.0 %, 33.3 %

COVERAGE_DAILY_SQL = """
insert into raw_coverage_daily
select snapshot_date, cloud, scope_id, os_family, count(*),
    count(*) filter (where power_state = 'running'),
    count(*) filter (where power_state = 'running' and edr_status = 'protected'),
    count(*) filter (where power_state = 'running' and edr_status = 'unhealthy'),
    count(*) filter (where power_state = 'running' and edr_status = 'not_installed'),
    count(*) filter (where power_state = 'running' and edr_status = 'unknown'),
    count(*) filter (where power_state = 'running' and edr_status = 'exempt'),
    count(*) filter (where power_state = 'running' and edr_status = 'not_applicable'),
    round(100.0 * count(*) filter (where power_state = 'running' and edr_status = 'protected')
        / nullif(count(*) filter (where power_state = 'running'
                                  and edr_status not in ('exempt', 'not_applicable')), 0), 2)
from raw_machine_edr_status where snapshot_date = ?
group by all
"""

GONE_NAME = "az-retired-01"
# change type, key, cloud, scope, name, owner, previous status, current status, detail
CHANGES = [
    ("newly_unprotected", "m04", "aws", "111122223333", SCRIPT_NAME, "team-platform", "protected",
     "not_installed", "no_edr_in_inventory"),
    ("newly_unprotected", "m10", "aws", "444455556666", "i-0bbb03", "team-platform", "exempt", "not_installed",
     "no_edr_in_inventory"),
    ("newly_unprotected", "m05", "gcp", "proj-alpha", "gce-api-01", "team-platform", "protected", "unhealthy",
     "mde_onboarding_failed"),
    ("exemption_expiring", "m07", "azure", "sub-bbb", "az-sql-01", "team-platform", None, "exempt",
     "exemption expires 2026-03-20"),
    ("new_machine", "m16", "azure", "sub-aaa", "az-web-03", "team-platform", None, "protected",
     "first seen tonight"),
    ("new_machine", "m15", "aws", "444455556666", "i-0bbb05", "team-platform", None, "not_installed",
     "first seen tonight"),
    ("machine_gone", "m98", "azure", "sub-aaa", GONE_NAME, "team-legacy", "protected", None,
     "not listed tonight"),
    ("newly_protected", "m11", "gcp", "proj-alpha", "gce-web-02", "team-platform", "unknown", "protected", MDE),
    ("newly_protected", "m01", "azure", "sub-aaa", "az-web-01", "team-platform", "unhealthy", "protected", MDE),
]
#: A change row of an older night still in the view: must not show.
STALE_CHANGE = ("new_machine", "m90", "azure", "sub-aaa", "stale-change-vm", None, None, "protected",
                "first seen tonight")

# key, cloud, scope, name, owner, first seen, first protected (days are derived)
TIME_TO_PROTECT = [
    ("m16", "azure", "sub-aaa", "az-web-03", "team-platform", SNAPSHOT, SNAPSHOT),  # 0 days
    ("m11", "gcp", "proj-alpha", "gce-web-02", "team-platform", date(2026, 3, 11), SNAPSHOT),  # 3 days
    ("m02", "azure", "sub-aaa", "az-web-02", "team-platform", date(2026, 3, 11), date(2026, 3, 12)),  # 1 day
    ("m01", "azure", "sub-aaa", "az-web-01", "team-platform", date(2026, 3, 12), SNAPSHOT),  # 2 days
    ("m06", "gcp", "proj-alpha", "gce-batch-01", None, date(2026, 3, 11), None),  # unprotected 3 days so far
    ("m15", "aws", "444455556666", "i-0bbb05", "team-platform", SNAPSHOT, None),  # unprotected 0 days so far
    # Not listed tonight: gone before it was protected (1 day between first and last seen).
    ("m97", "aws", "111122223333", "tmp-build & test", "team-ci", date(2026, 3, 11), None),
]
GONE_LAST_SEEN = date(2026, 3, 12)
# Protected: 0, 3, 1, 2 days -> median 1.5, max 3. Still unprotected and listed: 3 and 0 -> median 1.5,
# max 3. Gone, never protected: 1.

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


def insert_history(con: duckdb.DuckDBPyConnection, *, first_night: bool = False) -> None:
    """``coverage_daily``, ``coverage_changes`` and ``time_to_protect``.

    With ``first_night`` the database holds only tonight: no earlier night in ``coverage_daily``, no
    ``time_to_protect`` row, and only the expiring exemption (with no previous night) in ``coverage_changes``.
    """
    con.execute(COVERAGE_DAILY_SQL, [SNAPSHOT])
    previous = None if first_night else PREVIOUS
    for change in CHANGES:
        if first_night and change[0] != "exemption_expiring":
            continue
        con.execute("insert into raw_coverage_changes values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [*change, previous, SNAPSHOT])
    if first_night:
        return
    for row in TREND_ROWS:
        counts = row[4:]
        running, protected, exempt, not_applicable = counts[1], counts[2], counts[6], counts[7]
        assessable = running - exempt - not_applicable
        pct = round(100.0 * protected / assessable, 2) if assessable else None
        con.execute("insert into raw_coverage_daily values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [*row, pct])
    con.execute("insert into raw_coverage_changes values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*STALE_CHANGE, date(2026, 3, 12), PREVIOUS])
    for key, cloud, scope, name, owner, first_seen, first_protected in TIME_TO_PROTECT:
        last_seen = GONE_LAST_SEEN if key == "m97" else SNAPSHOT
        days = None if first_protected is None else (first_protected - first_seen).days
        so_far = (last_seen - first_seen).days if first_protected is None else None
        con.execute("insert into raw_time_to_protect values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [key, cloud, scope, name, owner, first_seen, first_protected, days, so_far])


def build_fixture_db(path: Path, *, runs: list[tuple] | None = None, machines: bool = True,
                     first_night: bool = False) -> Path:
    """Write the fixture database to ``path`` and return it.

    ``first_night``: the history views as on the first night, when there is no previous night yet.
    """
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
            insert_history(con, first_night=first_night)
        insert_runs(con, DEFAULT_RUNS if runs is None else runs)
    finally:
        con.close()
    return path
