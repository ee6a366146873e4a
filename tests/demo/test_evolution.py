"""The demo estate evolves from night to night: modestly, deterministically, on any run date, and the records
of each night agree with that night's plan (launch times, terminations, plans, exemption end dates)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from flows.demo import CASES, EXEMPT_UNTIL_TAG, PlannedMachine, demo_pages, planned_machines, topology
from flows.demo.common import run_time
from flows.demo.evolution import PHASES, servers_plan

MACHINES, SEED = 1000, 42
LAST = date(2025, 3, 14)  # a Friday
WEEKS = 3
NIGHTS = [LAST - timedelta(days=back) for back in range(7 * WEEKS - 1, -1, -1)]


@pytest.fixture(scope="module")
def plans() -> dict[date, list[PlannedMachine]]:
    return {night: planned_machines(MACHINES, SEED, night) for night in NIGHTS}


def _by_id(plan: list[PlannedMachine]) -> dict[str, PlannedMachine]:
    return {m.machine_id: m for m in plan}


def test_a_night_is_the_same_whenever_and_however_it_is_generated(plans):
    again = planned_machines(MACHINES, SEED, NIGHTS[3])
    assert again == plans[NIGHTS[3]]
    assert planned_machines(MACHINES, SEED + 1, NIGHTS[3]) != again


def test_the_estate_changes_modestly_every_night(plans):
    """About 1% launched and 1% gone a night, a handful broken, the size stable, every case present."""
    launched, gone = [], []
    for before, night in zip(NIGHTS, NIGHTS[1:], strict=False):
        was, now = _by_id(plans[before]), _by_id(plans[night])
        launched.append(len(now.keys() - was.keys()))
        gone.append(len(was.keys() - now.keys()))
        newly_broken = [m for key, m in now.items() if m.phase == "broken" and was.get(key, m).phase != "broken"]
        assert newly_broken, f"no EDR broke on {night}"
        assert set(Counter(m.case for m in plans[night])) == set(CASES), night
        assert abs(len(plans[night]) - MACHINES) < 0.04 * MACHINES
    assert 0.006 * MACHINES < sum(launched) / len(launched) < 0.015 * MACHINES
    assert 0.006 * MACHINES < sum(gone) / len(gone) < 0.015 * MACHINES
    assert min(launched) > 0 and min(gone) > 0
    unchanged = sum(1 for m in plans[LAST] if m.phase is None) / len(plans[LAST])
    assert unchanged > 0.95, "most machines are their usual self"
    assert {m.phase for plan in plans.values() for m in plan} == {None, *PHASES}


def test_long_lived_machines_keep_their_identity_and_usual_case(plans):
    usual = {m.index: m for m in planned_machines(MACHINES, SEED)}
    for night in (NIGHTS[0], LAST):
        for machine in plans[night]:
            if machine.generation is None:
                assert machine.machine_id == usual[machine.index].machine_id
                assert machine.case == usual[machine.index].case or machine.phase == "broken"


def test_new_machines_are_onboarded_within_four_nights_unless_they_stay_unprotected(plans):
    """A short-lived machine's cases over its life: no EDR at first, then its usual case for good."""
    lives: dict[str, list[tuple[date, PlannedMachine]]] = {}
    for night in NIGHTS:
        for machine in plans[night]:
            if machine.generation is not None:
                lives.setdefault(machine.machine_id, []).append((night, machine))
    delays = Counter()
    for history in lives.values():
        first_night, first = history[0]
        if first_night == NIGHTS[0] or first.phase != "new":
            continue  # launched before the window
        assert first.launched_at is not None
        assert run_time(first_night) - timedelta(days=1) < first.launched_at < run_time(first_night)
        assert first.case in ("unknown", "not_installed")
        protected = [night for night, m in history if m.case == "protected"]
        if protected:
            delays[(protected[0] - first_night).days] += 1
            after = [m for night, m in history if night >= protected[0] and m.phase != "terminated"]
            assert all(m.case == "protected" for m in after)
        assert [night for night, _ in history] == NIGHTS[NIGHTS.index(first_night):][: len(history)], "no gaps"
    assert set(delays) <= {1, 2, 3, 4} and len(delays) == 4
    stay_unprotected = sum(1 for h in lives.values() if all(m.case != "protected" for _, m in h))
    assert stay_unprotected > 0


def _records(pages, dataset: str) -> list[dict[str, Any]]:
    return [r for p in pages if p.dataset == dataset for r in p.records]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_launch_times_and_terminations_show_in_the_records(plans):
    terminated_seen = new_seen = 0
    for night in NIGHTS[-7:]:
        plan = plans[night]
        pages = demo_pages(MACHINES, SEED, night, plan=plan)
        vms = {r["id"]: r for r in _records(pages, "azure__virtual_machines") if "properties" in r}
        ec2 = {r["InstanceId"]: r for r in _records(pages, "aws__ec2_instances") if "State" in r}
        gce = {r["name"]: r for r in _records(pages, "gcp__compute_instances")}
        ssm = {r["InstanceId"] for r in _records(pages, "aws__ssm_instance_information")}
        for m in plan:
            if m.launched_at is None:
                continue
            if m.kind == "azure_vm":
                created = _instant(vms[m.machine_id]["properties"]["timeCreated"][:19] + "+00:00")
            elif m.kind == "ec2":
                created = _instant(ec2[m.native_id]["LaunchTime"])
            else:
                created = datetime.fromisoformat(gce[m.machine_id]["resource"]["data"]["creationTimestamp"])
            assert abs(created - m.launched_at) < timedelta(seconds=1), m
            new_seen += m.phase == "new"
            if m.phase == "terminated":
                terminated_seen += 1
                record = ec2[m.native_id]
                assert record["State"] == {"Code": 48, "Name": "terminated"}
                assert record["StateTransitionReason"] == f"User initiated ({m.terminated_at:%Y-%m-%d %H:%M:%S} GMT)"
                assert run_time(night) - timedelta(hours=1) < m.terminated_at < run_time(night)
                assert m.native_id not in ssm and "PrivateIpAddress" not in record
                if night < LAST:
                    assert m.machine_id not in _by_id(plans[night + timedelta(days=1)])
    assert terminated_seen and new_seen


def test_the_plan_1_subscription_runs_plan_2_from_thursday_to_saturday_nights():
    p1 = next(s for s in topology(SEED).subscriptions if s.plan == "P1")
    week = [LAST + timedelta(days=k) for k in range(7)]
    assert [servers_plan(p1.plan, night) for night in week] == ["P2", "P2", "P1", "P1", "P1", "P1", "P2"]
    for night in week:
        pages = demo_pages(60, SEED, night)
        props = next(
            r["properties"]
            for r in _records(pages, "azure__security_pricings")
            if r["id"] == f"/subscriptions/{p1.id}/providers/Microsoft.Security/pricings/VirtualMachines"
        )
        assert props["subPlan"] == servers_plan(p1.plan, night)
        assert _instant(props["enablementTime"][:19] + "+00:00") < run_time(night) - timedelta(hours=11)
        assert _instant(props["enablementTime"][:19] + "+00:00") > run_time(night) - timedelta(days=5)


def test_some_exemption_always_expires_within_two_weeks(plans):
    for night in NIGHTS:
        pages = demo_pages(MACHINES, SEED, night, plan=plans[night])
        until = sorted(
            date.fromisoformat(tags[EXEMPT_UNTIL_TAG])
            for r in _records(pages, "azure__virtual_machines") + _records(pages, "azure__arc_machines")
            if (tags := r.get("tags") or {}) and EXEMPT_UNTIL_TAG in tags
        ) + sorted(
            date.fromisoformat(label)
            for r in _records(pages, "gcp__compute_instances")
            if (label := r["resource"]["data"].get("labels", {}).get(EXEMPT_UNTIL_TAG))
        ) + sorted(
            date.fromisoformat(t["Value"])
            for r in _records(pages, "aws__ec2_instances")
            for t in r.get("Tags", [])
            if t["Key"] == EXEMPT_UNTIL_TAG
        )
        assert any(night < end <= night + timedelta(days=14) for end in until), night
