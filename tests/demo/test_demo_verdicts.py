"""The demo estate through the real landing and models, night after night: on every night, every machine
that exists gets the verdict it was built to get that night, and the history marts see what changed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import duckdb
import pytest

from flows.demo import PlannedMachine, land_demo_estate, planned_machines, topology
from flows.lake.writer import Landing
from flows.settings import OutputSettings, Settings
from transforms.build import build_database

MACHINES = 1500
FIRST, SECOND = date(2026, 11, 25), date(2026, 11, 26)  # Wednesday, Thursday: the Plan 1 subscription on Plan 2


@dataclass
class Night:
    verdicts: dict[str, str]  # lower(native_id) -> edr_status
    kinds: Counter[str]
    merged: int  # machines whose Arc projection was matched by instance id
    recommendations: set[str]
    changes: dict[str, set[str]]  # change_type -> machine keys
    plans: Counter[tuple[str, str]]  # (Azure subscription, plan_status) -> machines


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> dict[date, Night]:
    """Land and build two consecutive nights into one lake, like the nightly demo does."""
    settings = Settings(output=OutputSettings(data_dir=tmp_path_factory.mktemp("demo")))
    out = {}
    for night in (FIRST, SECOND):
        landing = Landing(settings.output.lake_dir, night, extracted_at=datetime.combine(night, time(2), UTC))
        land_demo_estate(landing, machines=MACHINES, seed=42)
        landing.commit()
        build_database(settings, night)
        with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
            out[night] = _read_night(con)
    return out


def _read_night(con: duckdb.DuckDBPyConnection) -> Night:
    def rows(sql: str) -> list[tuple]:
        return con.execute(sql).fetchall()

    changes: dict[str, set[str]] = {}
    for change, key in rows("select change_type, machine_key from coverage_changes"):
        changes.setdefault(change, set()).add(key)
    return Night(
        verdicts=dict(rows("select lower(native_id), edr_status from machine_edr_status")),
        kinds=Counter(dict(rows("select resource_kind, count(*) from machines group by 1"))),
        merged=rows("select count(*) from machines where match_method = 'instance_id'")[0][0],
        recommendations={r[0] for r in rows("select distinct recommendation from recommendations")},
        changes=changes,
        plans=Counter({(scope, plan): n for scope, plan, n in rows(
            "select scope_id, plan_status, count(*) from machine_edr_status where cloud = 'azure' group by all")}),
    )


@pytest.mark.parametrize("night", [FIRST, SECOND])
def test_every_demo_machine_gets_its_intended_verdict_every_night(nights, night):
    got = nights[night].verdicts
    plan = planned_machines(MACHINES, 42, night)
    wrong = Counter()
    for machine in plan:
        verdict = got.get(machine.machine_id.lower())
        if verdict != machine.case:
            wrong[(machine.case, verdict, machine.scenario, machine.phase)] += 1
    assert not wrong, wrong.most_common(10)
    assert len(got) == len(plan), "only the machines that exist that night are listed"


def test_the_second_night_shows_launches_onboarding_breakage_and_decommissioning(nights):
    """Machines launched and gone, EDRs onboarded, broken and repaired since the first night, and each of
    those seen by the models as the verdict that night's plan intends."""
    first, second = planned_machines(MACHINES, 42, FIRST), planned_machines(MACHINES, 42, SECOND)
    phases = Counter(m.phase for m in second)
    assert {"new", "onboarding", "onboarded", "broken", "recovered"} <= set(phases), phases
    ids_first, ids_second = {m.machine_id for m in first}, {m.machine_id for m in second}
    launched, gone = ids_second - ids_first, ids_first - ids_second
    assert 0.003 * MACHINES <= len(launched) <= 0.03 * MACHINES
    assert 0.003 * MACHINES <= len(gone) <= 0.03 * MACHINES
    assert {m.machine_id for m in second if m.phase == "new"} == launched
    was = {m.machine_id: m.case for m in first}
    onboarded = [m for m in second if m.phase == "onboarded"]
    assert all(was[m.machine_id] in ("not_installed", "unknown") for m in onboarded)
    newly_broken = [m for m in second if m.phase == "broken" and was.get(m.machine_id) == "protected"]
    assert newly_broken and all(m.case == "unhealthy" for m in newly_broken)
    assert all(was[m.machine_id] == "unhealthy" and m.case == "protected" for m in second if m.phase == "recovered")


def _key(machine: PlannedMachine) -> str:
    """The models' machine_key of a planned machine."""
    if machine.cloud == "azure":
        return f"azure:{machine.machine_id.lower()}"
    if machine.cloud == "aws":
        return f"aws:{machine.account_id}:{machine.native_id}"
    return f"gcp:{machine.project_id}:{machine.native_id}"


def test_coverage_changes_reports_what_the_plan_changed(nights):
    changes = nights[SECOND].changes
    first, second = planned_machines(MACHINES, 42, FIRST), planned_machines(MACHINES, 42, SECOND)
    was = {_key(m): m.case for m in first}
    now = {_key(m): m.case for m in second}
    assert changes["new_machine"] == now.keys() - was.keys()
    assert changes["machine_gone"] == was.keys() - now.keys()
    assert changes["newly_unprotected"] == {
        key for key, case in now.items() if case in ("not_installed", "unhealthy") and was.get(key) == "protected"
    }
    assert changes["newly_protected"] == {
        key for key, case in now.items() if case == "protected" and was.get(key, "protected") != "protected"
    }
    for night in (FIRST, SECOND):
        assert nights[night].changes["exemption_expiring"], "a renewed exemption always ends within two weeks"


def test_the_plan_1_subscription_runs_plan_2_mid_week(nights):
    p1 = next(s.id for s in topology(42).subscriptions if s.plan == "P1")
    wednesday, thursday = nights[FIRST].plans, nights[SECOND].plans
    assert wednesday[(p1, "p1")] > 0 and wednesday[(p1, "p2")] == 0
    assert thursday[(p1, "p2")] > 0 and thursday[(p1, "p1")] == 0


def test_arc_mirrors_are_merged_not_double_counted(nights):
    for night in (FIRST, SECOND):
        planned = Counter(m.kind for m in planned_machines(MACHINES, 42, night))
        assert nights[night].merged > 0
        assert sum(nights[night].kinds.values()) == sum(planned.values())  # malformed records are set aside


def test_every_recommendation_name_is_exercised(nights):
    assert {"EDR solution should be installed on Virtual Machines", "EDR solution should be installed on EC2s",
            "EDR solution should be installed on Virtual Machines (GCP)",
            "EDR configuration issues should be resolved on virtual machines",
            "EDR configuration issues should be resolved on EC2s",
            "EDR configuration issues should be resolved on GCP virtual machines"} <= nights[SECOND].recommendations
