"""Hourly licensing cost, with hand-computed expectations. Nights are extracted at 02:00 UTC, so each
interval is exactly 24 h; Plan 2 costs USD 0.02 and Plan 1 USD 0.007 per server-hour (the seed price book)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import duckdb
import pytest

from flows.settings import LicensingSettings, OutputSettings, PlanSettings, PriceOverride, Settings
from tests import builders as b
from transforms.build import build_database

D1 = date(2026, 11, 10)
CTX = {"account_id": b.ACCOUNT, "region": "eu-west-1", "reservation_id": "r-1"}


def _settings(tmp_path, **licensing):
    return Settings(output=OutputSettings(data_dir=tmp_path / "data"),
                    plans=PlanSettings(aws_accounts={b.ACCOUNT: "p2"}),
                    licensing=LicensingSettings(**licensing))


def run_nights(tmp_path, nights, settings=None):
    """nights: list of {dataset: [(record, ctx)]} for D1, D1+1, ...; builds each night in order."""
    settings = settings or _settings(tmp_path)
    for offset, records in enumerate(nights):
        day = D1 + timedelta(days=offset)
        b.land(tmp_path, records, snapshot=day, settings=settings)
        build_database(settings, day)
    return duckdb.connect(str(settings.output.database_path), read_only=True)


def hours(con, name, day):
    return con.execute(
        "select h.running_hours_low, h.running_hours_central, h.running_hours_high, h.plan_status, "
        "round(h.cost, 6) from license_hours h join machines m using (machine_key) "
        "where (m.machine_name = ? or m.native_id = ?) and h.snapshot_date = ?", [name, name, day]).fetchone()


def ec2(iid, state="running", reason="", launched="2026-10-01T00:00:00+00:00"):
    record = b.ec2_instance(iid, state=state)
    record["LaunchTime"], record["StateTransitionReason"] = launched, reason
    return {"aws__ec2_instances": [(record, CTX)]}


def test_running_all_day_is_24_exact_hours(tmp_path):
    con = run_nights(tmp_path, [ec2("i-00000000000000c01"), ec2("i-00000000000000c01")])
    assert hours(con, "i-00000000000000c01", D1 + timedelta(days=1)) == (24.0, 24.0, 24.0, "p2", 0.48)


def test_stopped_all_day_costs_nothing(tmp_path):
    stopped = ec2("i-00000000000000c02", "stopped", "User initiated (2026-10-05 08:00:00 GMT)")
    con = run_nights(tmp_path, [stopped, stopped])
    assert hours(con, "i-00000000000000c02", D1 + timedelta(days=1)) == (0.0, 0.0, 0.0, "p2", 0.0)


def test_stopped_between_snapshots_without_timestamps_is_bounded(tmp_path):
    # Azure gives no stop time: running at night 1, deallocated at night 2 -> between 0 and 24 h, central 12.
    on, off = b.azure_vm("vm-b"), b.azure_vm("vm-b", power="PowerState/deallocated")
    nights = [{"azure__virtual_machines": [(on, {})], "azure__security_pricings": [(b.pricing(), {})]},
              {"azure__virtual_machines": [(off, {})], "azure__security_pricings": [(b.pricing(), {})]}]
    con = run_nights(tmp_path, nights)
    assert hours(con, "vm-b", D1 + timedelta(days=1)) == (0.0, 12.0, 24.0, "p2", 0.24)
    assert con.execute("select estimate_method from license_hours").fetchone() == ("bounded",)


def test_stop_time_inside_the_interval_makes_it_exact(tmp_path):
    stopped = ec2("i-00000000000000c03", "stopped", "User initiated (2026-11-10 20:00:00 GMT)")
    con = run_nights(tmp_path, [ec2("i-00000000000000c03"), stopped])
    assert hours(con, "i-00000000000000c03", D1 + timedelta(days=1)) == (18.0, 18.0, 18.0, "p2", 0.36)


def test_machine_that_lived_three_hours_between_snapshots(tmp_path):
    short = ec2("i-00000000000000c04", "terminated", "User initiated (2026-11-10 13:00:00 GMT)",
                launched="2026-11-10T10:00:00+00:00")
    other = ec2("i-00000000000000c09")  # the estate's other machine: night 1 exists, this one is not in it
    night2 = {"aws__ec2_instances": other["aws__ec2_instances"] + short["aws__ec2_instances"]}
    con = run_nights(tmp_path, [other, night2])
    assert hours(con, "i-00000000000000c04", D1 + timedelta(days=1)) == (3.0, 3.0, 3.0, "p2", 0.06)


def test_deallocated_vm_is_not_billed_but_stopped_allocated_is(tmp_path):
    dealloc = b.azure_vm("vm-d", power="PowerState/deallocated")
    allocated = b.azure_vm("vm-s", power="PowerState/stopped")
    night = {"azure__virtual_machines": [(dealloc, {}), (allocated, {})],
             "azure__security_pricings": [(b.pricing(), {})]}
    con = run_nights(tmp_path, [night, night])
    day = D1 + timedelta(days=1)
    assert hours(con, "vm-d", day) == (0.0, 0.0, 0.0, "p2", 0.0)
    assert hours(con, "vm-s", day) == (24.0, 24.0, 24.0, "p2", 0.48)  # Defender bills Stopped (allocated)


def test_price_change_mid_month_applies_from_its_date(tmp_path):
    change = PriceOverride(plan="p2", hourly=0.03, effective_from=D1 + timedelta(days=2))
    settings = _settings(tmp_path, prices=[change])
    con = run_nights(tmp_path, [ec2("i-00000000000000c05")] * 3, settings)
    assert hours(con, "i-00000000000000c05", D1 + timedelta(days=1))[4] == 0.48
    assert hours(con, "i-00000000000000c05", D1 + timedelta(days=2))[4] == 0.72


def test_plan_switched_from_p1_to_p2(tmp_path):
    vm = b.azure_vm("vm-p")
    p1 = {"azure__virtual_machines": [(vm, {})], "azure__security_pricings": [(b.pricing(sub_plan="P1"), {})]}
    p2 = {"azure__virtual_machines": [(vm, {})], "azure__security_pricings": [(b.pricing(sub_plan="P2"), {})]}
    con = run_nights(tmp_path, [p1, p1, p2])
    assert hours(con, "vm-p", D1 + timedelta(days=1)) == (24.0, 24.0, 24.0, "p1", 0.168)
    assert hours(con, "vm-p", D1 + timedelta(days=2)) == (24.0, 24.0, 24.0, "p2", 0.48)


def test_month_to_date_projection_and_per_seat_comparison(tmp_path):
    con = run_nights(tmp_path, [ec2("i-00000000000000c06")] * 3)  # 2 billed days of 24 h on Plan 2
    summary = dict(con.execute("select period, cost from license_cost_summary where dimension = 'overall'").fetchall())
    # 2 of November's 30 nights have data; the other 28 are filled at the last-week average of 0.48 a day
    assert summary == {"day": 0.48, "month_to_date": 0.96, "projected_month_end": pytest.approx(0.96 + 28 * 0.48)}
    p2 = con.execute("select machines, seat_price_monthly, per_seat_cost_month, saving from license_comparison "
                     "where plan = 'p2'").fetchone()
    assert p2 == (1, 14.6, 14.6, pytest.approx(14.6 - 30 * 0.48, abs=0.01))


def test_month_to_date_counts_each_machine_once_per_dimension_value(tmp_path):
    """A machine billed under several combinations this month (its plan or its owner changed) is one machine
    under each value it had, and one machine overall; one billed under a single combination all month (the
    usual case, counted without the distinct triples) is one machine under each of its values."""
    vm_p, q_alice, q_bob = b.azure_vm("vm-p"), b.azure_vm("vm-q", tags={"owner": "alice"}), \
        b.azure_vm("vm-q", tags={"owner": "bob"})
    vm_r = b.azure_vm("vm-r", tags={"owner": "carol"})
    q_p2, r_p2 = b.pricing(sub_plan="P2", scope=q_alice["id"]), b.pricing(sub_plan="P2", scope=vm_r["id"])

    def night(plan, q):
        return {"azure__virtual_machines": [(vm_p, {}), (q, {}), (vm_r, {})],
                "azure__security_pricings": [(b.pricing(sub_plan=plan), {}), (q_p2, {}), (r_p2, {})]}
    con = run_nights(tmp_path, [night("P1", q_alice), night("P1", q_alice), night("P2", q_bob)])
    machines = dict(((dimension, value), n) for dimension, value, n in con.execute(
        "select dimension, dimension_value, machines from license_cost_summary where period = 'month_to_date'"
    ).fetchall())
    assert {k: v for k, v in machines.items() if k[0] in ("overall", "plan", "owner", "cloud")} == {
        ("overall", "all machines"): 3, ("cloud", "azure"): 3, ("plan", "p1"): 1, ("plan", "p2"): 3,
        ("owner", "alice"): 1, ("owner", "bob"): 1, ("owner", "carol"): 1, ("owner", "(no owner tag)"): 1}


def test_cost_to_close_the_gap_and_plan2_overlap(tmp_path):
    vm_gap = b.azure_vm("vm-gap")
    vm_s1 = b.azure_vm("vm-s1")
    night = {"azure__virtual_machines": [(vm_gap, {}), (vm_s1, {})],
             "azure__security_pricings": [(b.pricing(sub_plan="P1"), {}),
                                          (b.pricing(sub_plan="P2", scope=vm_s1["id"]), {})],
             "azure__change_tracking": [(b.ct_row(vm_gap, software="7-Zip 23.01 (x64)"), {}),
                                        (b.ct_row(vm_s1, software="Sentinel Agent"), {})]}
    con = run_nights(tmp_path, [night, night])
    gap = con.execute("select machines_without_edr, added_hourly_cost, added_cost_30_days from license_gap").fetchone()
    assert gap == (1, pytest.approx(0.013), pytest.approx(0.013 * 24 * 30))
    overlap = con.execute("select machines, plan2_hours_mtd, plan2_cost_mtd, edr_products "
                          "from license_overlap").fetchone()
    assert overlap == (1, 24.0, 0.48, "SentinelOne Singularity")


def test_intervals_saved_without_a_later_column_are_computed_again(tmp_path):
    """Intervals saved by an earlier version lack edr_products (the overlap's products, now carried on the
    interval instead of joined from every night's snapshot): such a night does not count as saved, so the
    next build computes it again and saves it over, and the overlap is the same as when it was computed."""
    import pyarrow.parquet as pq

    vm = b.azure_vm("vm-s1")
    night = {"azure__virtual_machines": [(vm, {})],
             "azure__security_pricings": [(b.pricing(sub_plan="P2"), {})],
             "azure__change_tracking": [(b.ct_row(vm, software="Sentinel Agent"), {})]}
    settings = _settings(tmp_path)
    con = run_nights(tmp_path, [night, night, night], settings)
    overlap = con.execute("select * from license_overlap").fetchall()
    assert overlap and overlap[0][2] == "SentinelOne Singularity"
    con.close()
    second = settings.output.lake_dir / "derived" / "license_intervals" / f"snapshot_date={D1 + timedelta(days=1)}"
    for path in second.glob("*.parquet"):  # as an earlier version saved it
        pq.write_table(pq.read_table(path).drop_columns(["edr_products"]), path)

    build_database(settings, D1 + timedelta(days=2))
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        assert con.execute("select snapshot_date from intermediate.int_license_intervals_new order by 1"
                           ).fetchall() == [(D1 + timedelta(days=1),), (D1 + timedelta(days=2),)]
        assert con.execute("select * from license_overlap").fetchall() == overlap
    assert all("edr_products" in pq.read_schema(path).names for path in second.glob("*.parquet"))


def test_each_night_computes_only_its_own_intervals_and_reads_earlier_ones_back(tmp_path):
    """The nightly build prices one night: earlier nights' intervals are read from the lake, and a later
    price change still applies to them; without the saved intervals (an upgrade, a lost folder) the
    missing nights are computed once and the figures are the same."""
    settings = _settings(tmp_path)
    nights = [ec2("i-00000000000000c07"), ec2("i-00000000000000c07", state="stopped", reason="User initiated "
                                                  f"({D1 + timedelta(days=1)} 06:00:00 GMT)"),
              ec2("i-00000000000000c07")]
    con = run_nights(tmp_path, nights, settings)
    last = D1 + timedelta(days=2)
    saved = settings.output.lake_dir / "derived" / "license_intervals"
    assert sorted(p.name for p in saved.iterdir()) == [f"snapshot_date={D1 + timedelta(days=d)}" for d in (1, 2)]
    assert con.execute("select distinct snapshot_date from intermediate.int_license_intervals_new").fetchall() \
        == [(last,)]
    incremental = con.execute("select * from license_hours order by all").fetchall()
    con.close()

    shutil.rmtree(saved)
    build_database(settings, last)
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        assert con.execute("select count(distinct snapshot_date) from intermediate.int_license_intervals_new"
                           ).fetchone() == (2,)
        assert con.execute("select * from license_hours order by all").fetchall() == incremental

    repriced = _settings(tmp_path, prices=[PriceOverride(plan="p2", hourly=0.05, effective_from=D1)])
    build_database(repriced, last)
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        assert con.execute("select count(*) from license_hours where plan_status = 'p2' and hourly_price <> 0.05"
                           ).fetchone() == (0,)


def _month_figures(settings):
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        figures = {name: con.execute(f"select * from {name} order by all").fetchall()
                   for name in ("license_cost_summary", "license_overlap", "license_comparison", "license_gap",
                                "license_cost_daily")}
        carried = {name: "read_parquet" in con.execute(
            "select sql from duckdb_views() where view_name = ?", [f"{name}_past"]).fetchone()[0]
            for name in CARRIED_COSTS}
    return figures, carried


CARRIED_COSTS = ("license_month_machines", "license_month_nights", "license_cost_daily")


def test_month_to_date_carried_night_by_night_equals_the_month_recomputed(tmp_path):
    """The month to date and the daily cost trend are carried from night to night (the previous night's
    saved state plus tonight's intervals). Without a saved state they are recomputed from the retained
    nights, with the same figures; a new month starts from nothing; and a changed price book is not added to
    a state priced otherwise: it is recomputed at the new prices, then carried again."""
    settings = _settings(tmp_path)
    vm_s1, vm_p = b.azure_vm("vm-s1"), b.azure_vm("vm-p")
    first = date(2026, 11, 28)
    days = [first + timedelta(days=n) for n in range(5)]  # Nov 28 to Dec 2

    def night(n, day):
        records = ec2("i-00000000000000c08", state="stopped" if n == 1 else "running")
        records["azure__virtual_machines"] = [(vm_s1, {}), (vm_p, {})]
        records["azure__security_pricings"] = [(b.pricing(sub_plan="P1" if n < 2 else "P2"), {}),
                                               (b.pricing(sub_plan="P2", scope=vm_s1["id"]), {})]
        records["azure__change_tracking"] = [(b.ct_row(vm_s1, software="Sentinel Agent", when=f"{day}T01:00:00Z"),
                                              {})]
        return records

    saved = settings.output.lake_dir / "derived"
    for n, day in enumerate(days):
        b.land(tmp_path, night(n, day), snapshot=day, settings=settings)
        build_database(settings, day)
        carried, how = _month_figures(settings)
        assert how == dict.fromkeys(CARRIED_COSTS, n > 0)
        for name in how:
            shutil.rmtree(saved / name)
        build_database(settings, day)
        recomputed, how = _month_figures(settings)
        assert how == dict.fromkeys(CARRIED_COSTS, False)
        assert recomputed == carried, day

    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        # December: the intervals closing on Dec 1 and Dec 2 only, 24 h each for the three running machines
        assert con.execute("select period_start, machines, billable_hours from license_cost_summary "
                           "where period = 'month_to_date' and dimension = 'overall'").fetchone() \
            == (date(2026, 12, 1), 3, 144.0)
        assert con.execute("select machines, plan2_hours_mtd from license_overlap").fetchone() == (1, 48.0)

    later = [days[-1] + timedelta(days=n) for n in (1, 2, 3)]
    b.land(tmp_path, night(4, later[0]), snapshot=later[0], settings=settings)
    build_database(settings, later[0])
    assert _month_figures(settings)[1] == dict.fromkeys(CARRIED_COSTS, True)
    repriced = _settings(tmp_path, prices=[PriceOverride(plan="p2", hourly=0.05, effective_from=first)])
    for day in later[1:]:
        b.land(tmp_path, night(4, day), snapshot=day, settings=repriced)
        build_database(repriced, day)
        figures, how = _month_figures(repriced)
        # the first night at the new prices recomputes the month, the next one carries it
        assert how == dict.fromkeys(CARRIED_COSTS, day == later[2])
        assert figures["license_overlap"][0][5] == round(24 * 0.05 * (day - days[2]).days, 2)
        # every retained night at the new price, November's included
        daily = [row for row in figures["license_cost_daily"] if row[2] == "p2"]
        assert min(row[0] for row in daily) == first + timedelta(days=1)
        assert all(row[6] == pytest.approx(row[4] * 0.05) for row in daily)
