"""History over several nights: timeline intervals, changes since yesterday, time to protect, the daily trend,
and earlier nights read back from the lake's derived snapshots instead of being recomputed."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pytest

from flows.settings import OutputSettings, Settings
from tests import builders as b
from transforms.build import build_database

N1, N2, N3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
VM = {name: b.azure_vm(name) for name in ("vm-a", "vm-b", "vm-c", "vm-d", "vm-e")}


def _night(protected=(), failed=(), bare=(), extra=None):
    """Machines with MDE (protected), a failed MDE extension, or a fresh inventory and no EDR (bare)."""
    names = [*protected, *failed, *bare, *(extra or {})]
    vms = [(VM[n] if n not in (extra or {}) else extra[n], {}) for n in names]
    exts = [(b.extension(VM[n]), {}) for n in protected] + [(b.extension(VM[n], state="Failed"), {}) for n in failed]
    ct = [(b.ct_row(VM[n], software="7-Zip 23.01 (x64)", when="2026-11-19T22:00:00Z"), {}) for n in names]
    return {"azure__virtual_machines": vms, "azure__machine_extensions": exts, "azure__change_tracking": ct}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("history")
    settings = Settings(output=OutputSettings(data_dir=tmp / "data"))
    expiring = b.azure_vm("vm-e", tags={"edrcov-exempt": "vendor appliance",
                                         "edrcov-exempt-until": (N3 + timedelta(days=10)).isoformat()})
    nights = {N1: _night(protected=["vm-a", "vm-c"], bare=["vm-b"]),
              N2: _night(protected=["vm-a"], failed=["vm-c"], bare=["vm-b", "vm-d"]),
              N3: _night(protected=["vm-b", "vm-d"], failed=["vm-c"], extra={"vm-e": expiring})}
    for night, records in nights.items():
        b.land(tmp, records, snapshot=night, settings=settings)
        build_database(settings, night)
        if night == N2:  # keep the second night's database to look at its own changes
            shutil.copy(settings.output.database_path, tmp / "night2.duckdb")
    with duckdb.connect(str(settings.output.database_path), read_only=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def night2(con, tmp_path_factory):
    path = next(tmp_path_factory.getbasetemp().glob("history*/night2.duckdb"))
    with duckdb.connect(str(path), read_only=True) as connection:
        yield connection


def test_timeline_has_one_interval_per_unchanged_status(con):
    rows = con.execute("select valid_from, valid_to, nights, edr_status, is_current from machine_timeline "
                       "where machine_name = 'vm-b' order by valid_from").fetchall()
    assert rows == [(N1, N2, 2, "not_installed", False), (N3, N3, 1, "protected", True)]


def test_changes_since_the_previous_night(con):
    rows = con.execute("select change_type, machine_name, previous_status, current_status from coverage_changes "
                       "order by 1, 2").fetchall()
    assert rows == [("exemption_expiring", "vm-e", None, "exempt"),
                    ("machine_gone", "vm-a", "protected", None),
                    ("new_machine", "vm-e", None, "exempt"),
                    ("newly_protected", "vm-b", "not_installed", "protected"),
                    ("newly_protected", "vm-d", "not_installed", "protected")]
    assert con.execute("select distinct previous_night from coverage_changes").fetchall() == [(N2,)]


def test_newly_unprotected_on_the_night_a_protected_machine_breaks(con, night2):
    assert night2.execute("select change_type, previous_status, current_status from coverage_changes "
                          "where machine_name = 'vm-c'").fetchall() == [("newly_unprotected", "protected", "unhealthy")]
    # the next night it is still unhealthy: no longer a change
    assert con.execute("select count(*) from coverage_changes where machine_name = 'vm-c'").fetchone() == (0,)
    history = con.execute("select h.snapshot_date, h.edr_status from machine_history h "
                          "where h.machine_name = 'vm-c' order by 1").fetchall()
    assert history == [(N1, "protected"), (N2, "unhealthy"), (N3, "unhealthy")]


def test_time_to_protect(con):
    rows = con.execute("select machine_name, first_seen, first_protected, days_to_protect from time_to_protect "
                       "order by 1").fetchall()
    assert rows == [("vm-d", N2, N3, 1)]  # vm-e is exempt; the others were there on the first night


def test_time_to_protect_of_a_machine_gone_before_tonight_keeps_its_owner(tmp_path):
    """A new machine seen on N2 only: still listed (unprotected for 0 days so far), with the owner of the
    last night it was seen, which only the saved snapshots hold (the timeline keeps no owner)."""
    settings = Settings(output=OutputSettings(data_dir=tmp_path / "data"))
    short_lived = b.azure_vm("vm-f", tags={"owner": "team-y"})
    for night, vms in {N1: [VM["vm-a"]], N2: [VM["vm-a"], short_lived], N3: [VM["vm-a"]]}.items():
        records = {"azure__virtual_machines": [(vm, {}) for vm in vms],
                   "azure__change_tracking": [(b.ct_row(vm, software="7-Zip", when="2026-11-19T22:00:00Z"), {})
                                              for vm in vms]}
        b.land(tmp_path, records, snapshot=night, settings=settings)
        build_database(settings, night)
    con = duckdb.connect(str(settings.output.database_path), read_only=True)
    rows = con.execute("select machine_name, owner, first_seen, first_protected, days_unprotected_so_far "
                       "from time_to_protect").fetchall()
    assert rows == [("vm-f", "team-y", N2, None, 0)]


def test_daily_trend(con):
    rows = con.execute("select snapshot_date, sum(running_machines), sum(protected), "
                       "round(100.0 * sum(protected) / sum(running_machines - exempt - not_applicable), 1) "
                       "from coverage_daily group by 1 order by 1").fetchall()
    assert rows == [(N1, 3, 2, 66.7), (N2, 4, 1, 25.0), (N3, 4, 2, 66.7)]


def test_earlier_nights_come_from_the_derived_snapshots(con):
    plan = con.execute("select sql from duckdb_views() where view_name = 'machine_snapshots_past'").fetchone()[0]
    assert "derived" in plan and "machine_snapshots" in plan


def test_tonights_saved_states_are_read_from_the_lake_not_copied_into_the_file(con, tmp_path):
    """The timeline and the licence intervals, which the build saves to lake/derived anyway, are views over
    the saved partitions in the published database (a second copy in the file cost a million-row write
    each), and hold what the build computed. A model with nothing saved (no interval on the first night)
    is an empty table."""
    def kind(connection, schema, name):
        return connection.execute(
            "select 'table' from duckdb_tables() where schema_name = ? and table_name = ? union all "
            "select sql from duckdb_views() where schema_name = ? and view_name = ?",
            [schema, name, schema, name]).fetchall()

    [(timeline,)] = kind(con, "marts", "machine_timeline")
    [(intervals,)] = kind(con, "intermediate", "int_license_intervals_new")
    assert f"derived/machine_timeline/snapshot_date={N3}/" in timeline
    assert f"derived/license_intervals/snapshot_date={N3}/" in intervals and f"={N2}/" not in intervals
    assert con.execute("select count(*), count(distinct machine_key) from machine_timeline where is_current"
                       ).fetchall() == [(4, 4)]  # vm-b, vm-c, vm-d, vm-e
    assert con.execute("select distinct snapshot_date from intermediate.int_license_intervals_new"
                       ).fetchall() == [(N3,)]
    assert con.execute("select count(distinct snapshot_date) from license_hours").fetchall() == [(2,)]

    settings = Settings(output=OutputSettings(data_dir=tmp_path / "data"))
    b.land(tmp_path, _night(protected=["vm-a"]), snapshot=N1, settings=settings)
    build_database(settings, N1)
    with duckdb.connect(str(settings.output.database_path), read_only=True) as first:
        assert kind(first, "intermediate", "int_license_intervals_new") == [("table",)]
        assert first.execute("select count(*) from license_hours").fetchall() == [(0,)]
        assert "derived/machine_timeline/" in kind(first, "marts", "machine_timeline")[0][0]


def test_timeline_carried_forward_equals_the_timeline_recomputed_from_history(tmp_path):
    """Each build carries the previous night's saved timeline forward by one night; with no saved timeline
    it recomputes it from the retained snapshots. Both give the same intervals, including a machine that
    skips a night and comes back unchanged (one interval) or changed (a new one)."""
    settings = Settings(output=OutputSettings(data_dir=tmp_path / "data"))
    n4 = N3 + timedelta(days=1)
    nights = {N1: _night(protected=["vm-a", "vm-c"], bare=["vm-b"]),
              N2: _night(protected=["vm-a"], failed=["vm-c"], bare=["vm-b"]),
              N3: _night(protected=["vm-b"], failed=["vm-c"]),
              n4: _night(protected=["vm-a", "vm-b"], bare=["vm-c"])}
    for night, records in nights.items():
        b.land(tmp_path, records, snapshot=night, settings=settings)
        build_database(settings, night)
    saved = settings.output.lake_dir / "derived" / "machine_timeline"
    assert sorted(p.name for p in saved.iterdir()) == [f"snapshot_date={n}" for n in nights]
    query = "select * exclude (machine_key) from machine_timeline order by machine_name, valid_from"
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        carried = con.execute(query).fetchall()
        vm_a = con.execute("select valid_from, valid_to, nights, is_current from machine_timeline "
                           "where machine_name = 'vm-a'").fetchall()
    assert vm_a == [(N1, n4, 3, True)]

    shutil.rmtree(saved)
    build_database(settings, n4)
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        assert con.execute(query).fetchall() == carried


def test_daily_trend_carried_forward_equals_the_trend_recomputed_and_keeps_the_retained_nights(tmp_path):
    """coverage_daily adds tonight to the previous night's saved trend and drops the nights that have left
    the retention window; recomputed from the retained snapshots, it is the same."""
    from flows.settings import HistorySettings

    settings = Settings(output=OutputSettings(data_dir=tmp_path / "data"), history=HistorySettings(retention_days=3))
    nights = [N1 + timedelta(days=n) for n in range(5)]
    shapes = [_night(protected=["vm-a"], bare=["vm-b"]), _night(protected=["vm-a", "vm-b"]),
              _night(failed=["vm-a"], bare=["vm-b", "vm-c"])]
    query = "select * from coverage_daily order by all"
    for n, night in enumerate(nights):
        b.land(tmp_path, shapes[n % 3], snapshot=night, settings=settings)
        build_database(settings, night)
        with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
            carried = con.execute(query).fetchall()
            past = con.execute("select sql from duckdb_views() where view_name = 'coverage_daily_past'").fetchone()[0]
        assert ("read_parquet" in past) == (n > 0)
        retained = nights[max(0, n - 2):n + 1]
        # one row per retained night, with the protected machines of the shape landed that night
        assert {row[0]: row[6] for row in carried} == {d: [1, 2, 0][nights.index(d) % 3] for d in retained}
        assert len(carried) == len(retained)
        shutil.rmtree(settings.output.lake_dir / "derived" / "coverage_daily")
        build_database(settings, night)
        with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
            assert con.execute(query).fetchall() == carried


def _timeline_past(settings) -> str:
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        return con.execute("select sql from duckdb_views() where view_name = 'machine_timeline_past'").fetchone()[0]


def test_a_state_saved_by_other_code_is_recomputed_not_carried(tmp_path):
    """A saved timeline is carried on only when its fingerprint is tonight's: one saved by an earlier version
    (no fingerprint) or by other model code is recomputed from the retained snapshots, with the same
    intervals, and the next night carries tonight's again."""
    import pyarrow.parquet as pq

    settings = Settings(output=OutputSettings(data_dir=tmp_path / "data"))
    nights = {N1: _night(protected=["vm-a"], bare=["vm-b"]), N2: _night(protected=["vm-a", "vm-b"]),
              N3: _night(protected=["vm-a"], bare=["vm-b"])}
    for night, records in nights.items():
        b.land(tmp_path, records, snapshot=night, settings=settings)
        build_database(settings, night)
    assert "read_parquet" in _timeline_past(settings)
    query = "select * exclude (machine_key) from machine_timeline order by machine_name, valid_from"
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        carried = con.execute(query).fetchall()

    eve = settings.output.lake_dir / "derived" / "machine_timeline" / f"snapshot_date={N2}"
    for path in eve.glob("*.parquet"):  # as an earlier version saved it
        pq.write_table(pq.read_table(path).drop_columns(["_fingerprint"]), path)
    build_database(settings, N3)
    assert "int_machine_timeline_rebuilt" in _timeline_past(settings)
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        assert con.execute(query).fetchall() == carried

    for path in eve.glob("*.parquet"):  # made by other code
        table = pq.read_table(path)
        pq.write_table(table.append_column("_fingerprint", pa.array(["0" * 16] * table.num_rows)), path)
    build_database(settings, N3)
    assert "int_machine_timeline_rebuilt" in _timeline_past(settings)
    n4 = N3 + timedelta(days=1)
    b.land(tmp_path, nights[N3], snapshot=n4, settings=settings)
    build_database(settings, n4)
    assert "read_parquet" in _timeline_past(settings)


def test_fingerprints_follow_the_code_and_for_costs_the_prices():
    from transforms.history import carried_fingerprints
    from transforms.project import SqlProject

    models = SqlProject().models
    con = duckdb.connect()
    con.execute("create schema config")
    con.execute("create table config.price_book as select 'p2' as plan, 'USD' as currency, 0.02 as hourly_price, "
                "date '2022-04-01' as effective_from")
    before = carried_fingerprints(con, models)
    assert carried_fingerprints(con, models) == before
    con.execute("update config.price_book set hourly_price = 0.03")
    repriced = carried_fingerprints(con, models)
    assert repriced["machine_timeline"] == before["machine_timeline"]
    assert repriced["license_month_machines"] != before["license_month_machines"]
    assert repriced["license_month_nights"] != before["license_month_nights"]

    class Edited:
        sql = models["marts.machine_timeline"].sql + "\n-- edited"

    edited = carried_fingerprints(con, {**models, "marts.machine_timeline": Edited})
    assert edited["machine_timeline"] != repriced["machine_timeline"]
    assert edited["license_month_machines"] == repriced["license_month_machines"]
