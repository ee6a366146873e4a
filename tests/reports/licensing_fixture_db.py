"""A small analyst database with exactly the documented columns of the views the licensing report reads.

The views (``license_*``, ``machine_history``) sit on ``raw_*`` tables the way the real models do;
``build_info`` is a table, as in the real database. Every aggregate below was computed by hand from the
machine-nights of ``MACHINES`` with the rules of ``sql/marts/license_*.sql``:

Month March 2026 (31 days); nights 2026-03-11 (first retained, no interval) to 2026-03-14 (latest), so
three costed nights (12, 13, 14). Prices: Plan 2 0.02, Plan 1 0.007 per server-hour (USD).

- m-a  azure sub-aaa       owner team-web  p2   protected      24 / 24 / 24 h        0.48 a night
- m-b  aws   111122223333  owner <b>x</b>  p1   not_installed  24 / 24 / 24 h        0.168 a night
- m-c  gcp   proj-alpha    no owner        p2   protected by a third-party EDR only
                                                               24 / 24 / 10-14 h     0.48, 0.48, 0.20-0.28
- m-d  azure sub-aaa       owner team-web  off  not_installed  24 / 24 / 24 h        0 (not billed)
- m-e  azure sub-bbb       owner team-db   p2   unhealthy      0 h (deallocated)     0

Nights: 1.128, 1.128, 0.888 (low 0.848, high 0.928). Month to date 3.144 (3.104-3.184), 204 hours.
Run rate over the last seven days = 3.144 / 3 = 1.048 a night; 31 - 3 = 28 nights without data:
projected 3.144 + 28 x 1.048 = 32.488 (low 3.104 + 28 x 3.104/3 = 32.0747, high 3.184 + 28 x 3.184/3 = 32.9013).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

SNAPSHOT = date(2026, 3, 14)
FIRST_NIGHT = date(2026, 3, 11)
NIGHTS = [date(2026, 3, 11), date(2026, 3, 12), date(2026, 3, 13), date(2026, 3, 14)]
COSTED_NIGHTS = NIGHTS[1:]
CURRENCY = "USD"
PRICES = {"p2": 0.02, "p1": 0.007}
HTML_OWNER = "<b>x</b>"
FALCON = "CrowdStrike Falcon"

#: Columns of each view (and of ``build_info``), exactly as documented in ``sql/schema.yml``.
DDL = {
    "license_hours": """machine_key varchar, snapshot_date date, interval_start timestamptz,
        interval_end timestamptz, interval_hours double, cloud varchar, scope_id varchar, owner varchar,
        plan_status varchar, edr_status varchar, power_state varchar, third_party_edr_only boolean,
        edr_products varchar, running_hours_low double, running_hours_central double, running_hours_high double,
        estimate_method varchar, billable_hours double, hourly_price double, currency varchar,
        cost_low double, cost double, cost_high double""",
    "license_cost_daily": """snapshot_date date, cloud varchar, plan_status varchar, billed_machines bigint,
        billable_hours double, cost_low double, cost double, cost_high double, currency varchar""",
    "license_cost_summary": """period varchar, dimension varchar, dimension_value varchar, period_start date,
        machines bigint, billable_hours double, cost_low double, cost double, cost_high double,
        currency varchar""",
    "license_comparison": """plan varchar, machines bigint, billable_hours double, hourly_cost_mtd double,
        hourly_cost_projected double, seat_price_monthly double, per_seat_cost_month double, saving double,
        saving_pct double, currency varchar""",
    "license_gap": """cloud varchar, scope_id varchar, plan_status varchar, machines_without_edr bigint,
        added_hourly_cost double, added_cost_30_days double, currency varchar""",
    "license_overlap": """cloud varchar, scope_id varchar, edr_products varchar, machines bigint,
        plan2_hours_mtd double, plan2_cost_mtd double, saving_if_plan1_mtd double, currency varchar""",
    "machine_history": """machine_key varchar, snapshot_date date, snapshot_at timestamptz, cloud varchar,
        resource_kind varchar, scope_id varchar, machine_name varchar, owner varchar, os_family varchar,
        power_state varchar, provider_power_state varchar, is_billed_state boolean, plan_status varchar,
        edr_status varchar, status_reason varchar, edr_products varchar, third_party_edr_only boolean,
        exemption_expires date, exemption_active boolean, created_at timestamptz,
        last_started_at timestamptz, last_stopped_at timestamptz""",
}
BUILD_INFO_DDL = "snapshot_date date, built_at timestamptz, stale_after_days integer"

# key, cloud, scope, owner, plan, verdict, power, third-party only, products, kind, [(low, high) per costed night]
MACHINES = [
    ("m-a", "azure", "sub-aaa", "team-web", "p2", "protected", "running", False,
     "Microsoft Defender for Endpoint", "azure_vm", [(24, 24)] * 3),
    ("m-b", "aws", "111122223333", HTML_OWNER, "p1", "not_installed", "running", False, None, "aws_ec2",
     [(24, 24)] * 3),
    ("m-c", "gcp", "proj-alpha", None, "p2", "protected", "running", True, FALCON, "gcp_instance",
     [(24, 24), (24, 24), (10, 14)]),
    ("m-d", "azure", "sub-aaa", "team-web", "off", "not_installed", "running", False, None, "azure_vm",
     [(24, 24)] * 3),
    ("m-e", "azure", "sub-bbb", "team-db", "p2", "unhealthy", "stopped", False,
     "Microsoft Defender for Endpoint", "azure_vm", [(0, 0)] * 3),
]

# night, cloud, plan, billed machines, hours, cost low, cost, cost high
COST_DAILY = [
    *[row for night in COSTED_NIGHTS[:2] for row in (
        (night, "azure", "p2", 1, 24.0, 0.48, 0.48, 0.48),
        (night, "azure", "off", 0, 0.0, 0.0, 0.0, 0.0),
        (night, "aws", "p1", 1, 24.0, 0.168, 0.168, 0.168),
        (night, "gcp", "p2", 1, 24.0, 0.48, 0.48, 0.48),
    )],
    (SNAPSHOT, "azure", "p2", 1, 24.0, 0.48, 0.48, 0.48),
    (SNAPSHOT, "azure", "off", 0, 0.0, 0.0, 0.0, 0.0),
    (SNAPSHOT, "aws", "p1", 1, 24.0, 0.168, 0.168, 0.168),
    (SNAPSHOT, "gcp", "p2", 1, 12.0, 0.2, 0.24, 0.28),
]

_AZURE = ((1, 24.0, 0.48, 0.48, 0.48), (1, 72.0, 1.44, 1.44, 1.44), (14.88, 14.88, 14.88))
_AWS = ((1, 24.0, 0.168, 0.168, 0.168), (1, 72.0, 0.504, 0.504, 0.504), (5.208, 5.208, 5.208))
_GCP = ((1, 12.0, 0.2, 0.24, 0.28), (1, 60.0, 1.16, 1.2, 1.24), (11.9867, 12.4, 12.8133))
_P2 = ((2, 36.0, 0.68, 0.72, 0.76), (2, 132.0, 2.6, 2.64, 2.68), (26.8667, 27.28, 27.6933))
_ZERO = ((0, 0.0, 0.0, 0.0, 0.0), (0, 0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
# dimension, value, (day: machines, hours, low, cost, high), (month to date: same), (projected: low, cost, high)
COST_SUMMARY = [
    ("overall", "all machines", (3, 60.0, 0.848, 0.888, 0.928), (3, 204.0, 3.104, 3.144, 3.184),
     (32.0747, 32.488, 32.9013)),
    ("cloud", "azure", *_AZURE), ("cloud", "aws", *_AWS), ("cloud", "gcp", *_GCP),
    ("scope", "azure sub-aaa", *_AZURE), ("scope", "azure sub-bbb", *_ZERO),
    ("scope", "aws 111122223333", *_AWS), ("scope", "gcp proj-alpha", *_GCP),
    ("plan", "p2", *_P2), ("plan", "p1", *_AWS), ("plan", "off", *_ZERO),
    ("owner", "team-web", *_AZURE), ("owner", HTML_OWNER, *_AWS), ("owner", "(no owner tag)", *_GCP),
    ("owner", "team-db", *_ZERO),
    ("edr_status", "protected", *_P2), ("edr_status", "not_installed", *_AWS), ("edr_status", "unhealthy", *_ZERO),
]

# plan, machines, hours, hourly mtd, hourly projected, seat price, per-seat month, saving, saving %
COMPARISON = [
    ("p2", 2, 132.0, 2.64, 27.28, 14.6, 29.2, 1.92, 6.6),  # 0.02 x 730 = 14.60 per seat; 2 seats
    ("p1", 1, 72.0, 0.5, 5.21, 5.11, 5.11, -0.1, -1.9),  # 0.007 x 730 = 5.11; per seat is cheaper here
    ("all", 3, 204.0, 3.14, 32.49, None, 34.31, 1.82, 5.3),
]
# cloud, scope, plan, machines without EDR, added per hour, added over 30 days (24 h a day)
GAP = [
    ("aws", "111122223333", "p1", 1, 0.013, 9.36),  # (0.02 - 0.007) x 24 x 30
    ("azure", "sub-aaa", "off", 1, 0.02, 14.4),  # 0.02 x 24 x 30
]
# cloud, scope, products, machines, Plan 2 hours, Plan 2 cost, saving with Plan 1 (60 h x 0.013)
OVERLAP = [("gcp", "proj-alpha", FALCON, 1, 60.0, 1.2, 0.78)]


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """The ``raw_*`` tables and the contract views over them, empty; and ``build_info``."""
    for view, columns in DDL.items():
        con.execute(f"create table raw_{view} ({columns})")
        con.execute(f"create view {view} as select * from raw_{view}")
    con.execute(f"create table build_info ({BUILD_INFO_DDL})")


def _instant(night: date) -> datetime:
    return datetime(night.year, night.month, night.day, 2, 0, tzinfo=UTC)


def insert_history(con: duckdb.DuckDBPyConnection, nights: list[date]) -> None:
    for night in nights:
        for key, cloud, scope, owner, plan, verdict, power, third_party, products, kind, _ in MACHINES:
            con.execute("insert into raw_machine_history values "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [key, night, _instant(night), cloud, kind, scope, f"vm-{key}", owner, "linux", power,
                         power, power == "running", plan, verdict, "rule", products, third_party, None, False,
                         datetime(2025, 1, 1, tzinfo=UTC), None, None])


def insert_hours(con: duckdb.DuckDBPyConnection) -> None:
    for i, night in enumerate(COSTED_NIGHTS):
        start, end = _instant(night - timedelta(days=1)), _instant(night)
        for key, cloud, scope, owner, plan, verdict, power, third_party, products, _, hours in MACHINES:
            low, high = hours[i]
            central = (low + high) / 2
            billed = plan in PRICES
            price = PRICES.get(plan, 0.0)
            con.execute("insert into raw_license_hours values "
                        "(?, ?, ?, ?, 24, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [key, night, start, end, cloud, scope, owner, plan, verdict, power, third_party, products,
                         low, central,
                         high, "exact" if low == high else "bounded", central if billed else 0.0, price, CURRENCY,
                         low * price if billed else 0.0, central * price if billed else 0.0,
                         high * price if billed else 0.0])


def insert_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    for row in COST_DAILY:
        con.execute("insert into raw_license_cost_daily values (?, ?, ?, ?, ?, ?, ?, ?, ?)", [*row, CURRENCY])
    month_start = SNAPSHOT.replace(day=1)
    for dimension, value, day, mtd, projected in COST_SUMMARY:
        for period, start, (machines, hours, low, cost, high) in (
            ("day", SNAPSHOT, day), ("month_to_date", month_start, mtd),
            ("projected_month_end", month_start, (mtd[0], None, *projected)),
        ):
            con.execute("insert into raw_license_cost_summary values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [period, dimension, value, start, machines, hours, low, cost, high, CURRENCY])
    for row in COMPARISON:
        con.execute("insert into raw_license_comparison values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [*row, CURRENCY])
    for row in GAP:
        con.execute("insert into raw_license_gap values (?, ?, ?, ?, ?, ?, ?)", [*row, CURRENCY])
    for row in OVERLAP:
        con.execute("insert into raw_license_overlap values (?, ?, ?, ?, ?, ?, ?, ?)", [*row, CURRENCY])


def add_licensing(con: duckdb.DuckDBPyConnection, *, costed: bool = True, gap: bool = True) -> None:
    """Create the licensing views in an open database and fill them.

    ``costed=False`` is the first night: ``machine_history`` and ``build_info`` hold one night, every
    ``license_*`` view but ``license_gap`` is empty (``gap=False`` empties that one too).
    """
    create_schema(con)
    if costed:
        insert_history(con, NIGHTS)
        insert_hours(con)
        insert_aggregates(con)
        snapshot = SNAPSHOT
    else:
        insert_history(con, [FIRST_NIGHT])
        if gap:
            for row in GAP:
                con.execute("insert into raw_license_gap values (?, ?, ?, ?, ?, ?, ?)", [*row, CURRENCY])
        snapshot = FIRST_NIGHT
    con.execute("insert into build_info values (?, ?, 7)", [snapshot, datetime(2026, 3, 14, 3, 0, tzinfo=UTC)])


def build_licensing_db(path: Path, *, costed: bool = True, gap: bool = True) -> Path:
    """Write the fixture database to ``path`` and return it."""
    con = duckdb.connect(str(path))
    try:
        add_licensing(con, costed=costed, gap=gap)
    finally:
        con.close()
    return path
