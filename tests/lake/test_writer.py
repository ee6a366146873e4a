"""Landing: streamed, atomic per dataset, idempotent per date, malformed records set aside."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pyarrow.parquet as pq
import pytest

from flows.lake.writer import Landing, partition_dir
from tests import builders as b

DAY = date(2026, 11, 28)


def _count(lake, dataset):
    glob = str(lake / "raw" / dataset / "snapshot_date=*" / "*.parquet")
    query = f"select count(*) from read_parquet('{glob}', hive_partitioning = true)"
    return duckdb.connect().execute(query).fetchone()[0]


def _land_vms(lake, names, run_id=None):
    landing = Landing(lake, DAY, run_id)
    with landing.writer("azure__virtual_machines", "sub") as writer:
        writer.write_page([b.azure_vm(n) for n in names])
    landing.commit()
    return landing


def test_rerun_of_the_same_date_replaces_the_partition(tmp_path):
    _land_vms(tmp_path, ["a", "b", "c"])
    _land_vms(tmp_path, ["a", "b"])
    assert _count(tmp_path, "azure__virtual_machines") == 2
    assert not (tmp_path / "_staging").exists()


def test_crash_before_commit_leaves_the_previous_partition_untouched(tmp_path):
    _land_vms(tmp_path, ["a", "b", "c"])
    crashed = Landing(tmp_path, DAY)
    with crashed.writer("azure__virtual_machines", "sub") as writer:
        writer.write_page([b.azure_vm("x")])
    # no commit: the staged file is not under any snapshot_date= directory readers glob
    assert _count(tmp_path, "azure__virtual_machines") == 3
    crashed.abort()
    assert not (tmp_path / "_staging").exists()


def test_raw_json_is_kept_and_typed_columns_extracted(tmp_path):
    _land_vms(tmp_path, ["web-1"])
    files = list(partition_dir(tmp_path, "azure__virtual_machines", DAY).glob("*.parquet"))
    row = pq.read_table(files[0]).to_pylist()[0]
    assert row["power_state_code"] == "PowerState/running"
    assert '"computerName":"web-1"' in row["raw_json"]
    assert row["scope"] == "sub" and row["run_id"]


def test_malformed_record_is_rejected_not_fatal(tmp_path):
    landing = Landing(tmp_path, DAY)
    broken = b.ec2_instance("i-0000000000000bb01")
    del broken["State"]
    with landing.writer("aws__ec2_instances", "acct/region") as writer:
        writer.write_page([b.ec2_instance("i-0000000000000bb02"), broken],
                          account_id=b.ACCOUNT, region="eu-west-1", reservation_id="r-1")
    assert (writer.rows, writer.rejected, writer.pages) == (1, 1, 1)
    landing.commit()
    assert _count(tmp_path, "aws__ec2_instances") == 1
    glob = str(tmp_path / "raw" / "rejected_records" / "*" / "*.parquet")
    error, raw = duckdb.connect().execute(f"select error, raw_json from read_parquet('{glob}')").fetchone()
    assert error.startswith("KeyError") and "i-0000000000000bb01" in raw


def test_wrongly_typed_value_rejects_only_that_record(tmp_path):
    landing = Landing(tmp_path, DAY)
    odd = b.ec2_instance("i-0000000000000bb03")
    odd["State"]["Code"] = "sixteen"
    with landing.writer("aws__ec2_instances", "acct/region") as writer:
        writer.write_page([b.ec2_instance("i-0000000000000bb04"), odd],
                          account_id=b.ACCOUNT, region="eu-west-1", reservation_id="r-1")
    assert (writer.rows, writer.rejected) == (1, 1)


def test_writer_streams_in_batches(tmp_path):
    landing = Landing(tmp_path, DAY)
    writer = landing.writer("azure__virtual_machines", "sub", batch_rows=10)
    writer.write_page([b.azure_vm(f"vm-{i}") for i in range(35)])
    assert len(writer._buffer) == 5  # 30 rows already flushed to the file
    writer.close()
    landing.commit()
    files = list(partition_dir(tmp_path, "azure__virtual_machines", DAY).glob("*.parquet"))
    assert pq.ParquetFile(files[0]).metadata.num_row_groups == 4


def test_writer_flushes_large_records_by_their_bytes_before_the_row_count(tmp_path):
    """Large records (GCP OS inventories carry a package list each) are flushed once their JSON reaches
    the byte bound, so a writer holds a bounded amount whatever the estate, not ``batch_rows`` of them."""
    landing = Landing(tmp_path, DAY)
    vms = [b.azure_vm(f"vm-{i}") for i in range(12)]
    one = len(json.dumps(vms[0], default=str, separators=(",", ":")))
    writer = landing.writer("azure__virtual_machines", "sub", batch_rows=1000)
    writer.batch_json_bytes = 3 * one + one // 2  # a flush every fourth record
    writer.write_page(vms)
    assert len(writer._buffer) == 0 and writer.rows == 12
    writer.close()
    landing.commit()
    files = list(partition_dir(tmp_path, "azure__virtual_machines", DAY).glob("*.parquet"))
    assert pq.ParquetFile(files[0]).metadata.num_row_groups == 3
    assert pq.read_table(files[0]).num_rows == 12


@pytest.mark.parametrize("dataset", ["azure__virtual_machines", "extract_runs"])
def test_every_dataset_partition_is_replaced_even_when_empty(tmp_path, dataset):
    _land_vms(tmp_path, ["a"])
    Landing(tmp_path, DAY).commit()  # a later run of the same night that found nothing
    assert not partition_dir(tmp_path, dataset, DAY).exists()


@pytest.mark.parametrize(("text", "iso_utc"), [
    ("2021-04-22T13:51:49.576-07:00", "2021-04-22T20:51:49.576000+00:00"),  # GCP: fraction then offset
    ("2024-05-01T10:00:00.1234567Z", "2024-05-01T10:00:00.123456+00:00"),  # Azure: 7 fraction digits
    ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00+00:00"),
    (1582221233.421, "2020-02-20T17:53:53.421000+00:00"),  # SSM JSON: epoch seconds
])
def test_parse_ts_handles_every_cloud_format(text, iso_utc):
    from datetime import UTC

    from flows.records._util import parse_ts

    assert parse_ts(text).astimezone(UTC).isoformat() == iso_utc
