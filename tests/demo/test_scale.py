"""The vectorised scale generator: the connectors' raw datasets, byte-for-byte what their extractors would
make of ``raw_json``, with the demo's mix of verdicts through the real landing, models and data tests."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from flows.demo.scale import create_plan_table, land_scale_estate
from flows.demo.scale_plan import SOURCE_FAILED
from flows.lake.datasets import DATASETS, EXTRACT_RUNS_SCHEMA
from flows.lake.writer import Landing
from flows.settings import OutputSettings, Settings
from transforms.build import build_database

MACHINES = 5000
SEED = 42
NIGHT = date(2026, 11, 28)
RUN_ID = "2026-11-28-scale-test"
EXTRACTED_AT = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
SEEDS = Path(__file__).resolve().parents[2] / "sql" / "seeds"
# The demo's intended shares (flows.demo.plan.CASE_WEIGHTS, Arc servers having no not_applicable).
INTENDED = {"protected": 0.70, "unhealthy": 0.05, "not_installed": 0.106, "unknown": 0.105, "exempt": 0.02,
            "not_applicable": 0.019}
# Context the connectors pass to the extractors besides the record (flows.sources.*).
CONTEXT = {
    "aws__ec2_instances": ("account_id", "region", "reservation_id"),
    "aws__ssm_instance_information": ("account_id", "region"),
    "aws__ssm_applications": ("instance_id", "account_id", "region", "capture_time"),
    "aws__ssm_services": ("instance_id", "account_id", "region", "capture_time"),
}


def _land(root: Path, **options) -> dict[str, int]:
    landing = Landing(root, NIGHT, run_id=RUN_ID, extracted_at=EXTRACTED_AT)
    rows = land_scale_estate(landing, MACHINES, SEED, **options)
    landing.commit()
    return rows


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    settings = Settings(output=OutputSettings(data_dir=tmp_path_factory.mktemp("scale")))
    rows = _land(settings.output.lake_dir)
    build_database(settings, NIGHT)  # runs the project's data tests: they must pass
    return settings, rows


@pytest.fixture(scope="module")
def db(estate):
    settings, _ = estate
    with duckdb.connect(str(settings.output.database_path), read_only=True) as con:
        yield con


def _files(lake: Path, dataset: str) -> list[Path]:
    return sorted((lake / "raw" / dataset).glob("snapshot_date=*/*.parquet"))


def _fingerprint(lake: Path) -> dict[str, tuple[int, int]]:
    """Rows and an order-insensitive hash of every column of every dataset (file names and order aside)."""
    prints = {}
    with duckdb.connect() as con:
        for name in [*DATASETS, "extract_runs"]:
            files = [str(f) for f in _files(lake, name)]
            if files:
                columns = ", ".join(f'"{c}"' for c in con.execute(
                    f"describe select * from read_parquet({files})").fetchnumpy()["column_name"]
                    if c != "snapshot_date")
                prints[name] = con.execute(
                    f"select count(*), sum(hash({columns}) % 1000000007) from read_parquet({files})").fetchone()
    return prints


def test_every_file_has_the_registered_schema(estate):
    settings, rows = estate
    lake = settings.output.lake_dir
    for name, spec in [*DATASETS.items(), ("extract_runs", None)]:
        expected = spec.schema if spec else EXTRACT_RUNS_SCHEMA
        files = _files(lake, name)
        assert files, f"nothing landed for {name}"
        for path in files:
            schema = pq.read_schema(path)
            assert schema.names == expected.names, (name, path.name)
            for field in expected:
                got = schema.field(field.name)
                assert got.type.equals(field.type), (name, field.name, got.type, field.type)
                assert got.nullable == field.nullable, (name, field.name)
    assert all(rows[name] > 0 for name in DATASETS), rows


def test_typed_columns_are_what_the_extractors_make_of_raw_json(estate):
    """Sampled rows of every dataset: the registered extractor, given ``raw_json`` (and the scope context
    the connector would pass), returns exactly the typed columns."""
    settings, _ = estate
    for name, spec in DATASETS.items():
        checked = 0
        for path in _files(settings.output.lake_dir, name):
            table = pq.read_table(path)
            for row in table.slice(0, 5000).to_pylist()[::25]:
                context = {key: row[key] for key in CONTEXT.get(name, ())}
                if "capture_time" in context:
                    context["capture_time"] = context["capture_time"].isoformat()
                expected = spec.extract(json.loads(row["raw_json"]), **context)
                assert {k: row[k] for k in expected} == expected, (name, row["raw_json"][:300])
                assert row["run_id"] == RUN_ID and row["extracted_at"] == EXTRACTED_AT
                checked += 1
        assert checked, name


def test_every_machine_gets_its_intended_verdict_and_the_mix_is_the_demos(estate, db):
    settings, _ = estate
    verdicts = dict(db.execute("select edr_status, count(*) from machine_edr_status group by 1").fetchall())
    total = sum(verdicts.values())
    assert total == MACHINES
    assert set(verdicts) == set(INTENDED)
    for verdict, share in INTENDED.items():
        assert abs(verdicts[verdict] / total - share) < 0.02, (verdict, verdicts)
    with duckdb.connect() as con:
        create_plan_table(con, MACHINES, SEED, NIGHT)
        con.execute(f"attach '{settings.output.database_path}' as built (read_only)")
        wrong = con.execute("""
            select p.kind, p.scenario, p.intent, s.edr_status, count(*)
            from scale_plan as p
            left join built.main.machine_edr_status as s on lower(s.native_id) = lower(p.machine_id)
            where s.edr_status is distinct from p.intent
            group by all order by 5 desc""").fetchall()
        assert not wrong, wrong[:10]
        failed = con.execute("""select count(*) from built.main.machine_edr_status
            where status_reason = 'source_failed'""").fetchone()[0]
        planned = con.execute(f"select count(*) from scale_plan where scenario = '{SOURCE_FAILED}'").fetchone()[0]
        assert failed == planned > 0


def test_every_recommendation_is_exercised(db):
    with (SEEDS / "recommendations.csv").open(newline="") as handle:
        expected = {row["recommendation"] for row in csv.DictReader(handle)}
    got = {r[0] for r in db.execute("select distinct recommendation from recommendations").fetchall()}
    assert expected <= got, expected - got


def test_arc_mirrors_are_merged_into_their_cloud_machines(estate, db):
    _, rows = estate
    merged = db.execute("select count(*) from machines where match_method = 'instance_id'").fetchone()[0]
    assert merged > 0
    assert db.execute("select count(*) from machines").fetchone()[0] == MACHINES
    assert rows["azure__arc_machines"] > db.execute(
        "select count(*) from machines where resource_kind = 'azure_arc'").fetchone()[0]


def test_about_twenty_software_rows_per_inventoried_machine(estate):
    settings, _ = estate
    lake = settings.output.lake_dir
    with duckdb.connect() as con:
        def per_machine(dataset: str, sql: str) -> float:
            files = [str(f) for f in _files(lake, dataset)]
            return con.execute(sql.format(files=files)).fetchone()[0]

        shares = {
            "change tracking": per_machine("azure__change_tracking", """select count(*) / count(distinct
                machine_resource_id) from read_parquet({files}) where config_data_type = 'Software'"""),
            "ssm": per_machine("aws__ssm_applications", """select count(*) / count(distinct instance_id)
                from read_parquet({files})"""),
            "os config": per_machine("gcp__os_inventories", """select avg(len(packages)) from read_parquet({files})
                where os_short_name <> 'cos'"""),
        }
    assert all(17 <= n <= 24 for n in shares.values()), shares


def test_extract_runs_cover_every_scope_with_the_legacy_failures(estate):
    settings, rows = estate
    with duckdb.connect() as con:
        files = [str(f) for f in _files(settings.output.lake_dir, "extract_runs")]
        outcomes = con.execute(f"select dataset, scope, status, rows, error_class from read_parquet({files})"
                               ).fetchall()
    assert len(outcomes) == rows["extract_runs"]
    failed = [(d, e) for d, _, status, _, e in outcomes if status == "failed"]
    assert sorted(d for d, _ in failed) == ["aws__ssm_applications", "aws__ssm_services",
                                            "azure__machine_extensions", "gcp__os_inventories"]
    landed: dict[str, int] = {}
    for dataset, _, _, n, _ in outcomes:
        landed[dataset] = landed.get(dataset, 0) + n
    assert landed == {name: rows[name] for name in DATASETS}


def test_same_inputs_give_the_same_data_whatever_the_chunking(estate, tmp_path):
    settings, _ = estate
    _land(tmp_path / "again", chunk=1700, threads=1)
    assert _fingerprint(tmp_path / "again") == _fingerprint(settings.output.lake_dir)


def test_machine_identities_are_stable_across_nights():
    columns = "i, kind, machine_id, native_id, name, hostname, scope, arc_resource_id"
    with duckdb.connect() as con:
        create_plan_table(con, 3000, SEED, NIGHT, "tonight")
        create_plan_table(con, 3000, SEED, NIGHT + timedelta(days=1), "tomorrow")
        changed = con.execute(f"select count(*) from (select {columns} from tonight "
                              f"except select {columns} from tomorrow)").fetchone()[0]
    assert changed == 0
