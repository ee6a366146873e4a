"""The demo estate through the real landing and models: every machine gets the verdict it was built for."""

from __future__ import annotations

from collections import Counter
from datetime import date

import duckdb
import pytest

from flows.demo import land_demo_estate, planned_machines
from flows.lake.writer import Landing
from flows.settings import OutputSettings, Settings
from transforms.build import build_database

MACHINES = 1500


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    settings = Settings(output=OutputSettings(data_dir=tmp_path_factory.mktemp("demo")))
    landing = Landing(settings.output.lake_dir, date(2026, 11, 28))
    land_demo_estate(landing, machines=MACHINES, seed=42)
    landing.commit()
    build_database(settings, date(2026, 11, 28))
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        yield con


def test_every_demo_machine_gets_its_intended_verdict(demo_db):
    got = dict(demo_db.execute("select lower(native_id), edr_status from machine_edr_status").fetchall())
    wrong = Counter()
    for machine in planned_machines(MACHINES, 42):
        verdict = got.get(str(machine.machine_id).lower())
        if verdict != machine.case:
            wrong[(machine.case, verdict, machine.scenario)] += 1
    assert not wrong, wrong.most_common(10)


def test_arc_mirrors_are_merged_not_double_counted(demo_db):
    merged = demo_db.execute("select count(*) from machines where match_method = 'instance_id'").fetchone()[0]
    kinds = dict(demo_db.execute("select resource_kind, count(*) from machines group by 1").fetchall())
    planned = Counter(m.kind for m in planned_machines(MACHINES, 42))
    assert merged > 0
    assert sum(kinds.values()) == sum(planned.values())  # the malformed records are extras, set aside


def test_every_recommendation_name_is_exercised(demo_db):
    names = {r[0] for r in demo_db.execute("select distinct recommendation from recommendations").fetchall()}
    assert {"EDR solution should be installed on Virtual Machines", "EDR solution should be installed on EC2s",
            "EDR solution should be installed on Virtual Machines (GCP)",
            "EDR configuration issues should be resolved on virtual machines",
            "EDR configuration issues should be resolved on EC2s",
            "EDR configuration issues should be resolved on GCP virtual machines"} <= names
