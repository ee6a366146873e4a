"""The raw datasets: one per (source, entity), each with its typed columns and its record extractor.

This registry is the single source of truth for the lake's layout. Every dataset lives at
``<lake>/raw/<name>/snapshot_date=YYYY-MM-DD/*.parquet`` and carries, besides its typed columns, the
lineage columns ``run_id``, ``scope`` (subscription / account-region / project or workspace the API call
was made for), ``extracted_at`` and ``raw_json`` (the record exactly as the API returned it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from flows.records import aws, azure, gcp

TS = pa.timestamp("us", tz="UTC")
S = pa.string()

LINEAGE_FIELDS = [
    pa.field("run_id", S, nullable=False),
    pa.field("scope", S, nullable=False),
    pa.field("extracted_at", TS, nullable=False),
    pa.field("raw_json", S, nullable=False),
]


@dataclass(frozen=True)
class DatasetSpec:
    """A raw dataset: its name (``<source>__<entity>``), typed columns and record extractor."""

    name: str
    cloud: str
    description: str
    columns: pa.Schema
    extract: Callable[..., dict[str, Any]]

    @property
    def schema(self) -> pa.Schema:
        """Typed columns followed by the lineage columns, as written to Parquet."""
        return pa.schema(list(self.columns) + LINEAGE_FIELDS)


def _schema(**columns: pa.DataType) -> pa.Schema:
    return pa.schema([pa.field(name, dtype) for name, dtype in columns.items()])


AZURE_COMMON = dict(resource_id=S, name=S, subscription_id=S, resource_group=S, location=S, tags_json=S)
PACKAGE = pa.struct([("item_id", S), ("kind", S), ("name", S), ("version", S), ("publisher", S)])

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            "azure__virtual_machines", "azure", "Resource Graph rows of type microsoft.compute/virtualmachines",
            _schema(**AZURE_COMMON, vm_id=S, computer_name=S, os_type=S, os_name=S, os_version=S,
                    image_publisher=S, image_offer=S, image_sku=S, power_state_code=S,
                    provisioning_state=S, time_created=TS),
            azure.to_virtual_machine_row),
        DatasetSpec(
            "azure__arc_machines", "azure", "Resource Graph rows of type microsoft.hybridcompute/machines",
            _schema(**AZURE_COMMON, vm_id=S, status=S, os_type=S, os_name=S, os_version=S, os_sku=S,
                    machine_fqdn=S, agent_version=S, last_status_change=TS, cloud_provider=S,
                    detected_properties_json=S),
            azure.to_arc_machine_row),
        DatasetSpec(
            "azure__machine_extensions", "azure", "Resource Graph rows of VM and Arc machine extensions",
            _schema(resource_id=S, machine_resource_id=S, name=S, resource_type=S, subscription_id=S,
                    publisher=S, extension_type=S, type_handler_version=S, provisioning_state=S),
            azure.to_machine_extension_row),
        DatasetSpec(
            "azure__security_pricings", "azure", "securityresources rows of type microsoft.security/pricings",
            _schema(resource_id=S, name=S, subscription_id=S, scope_resource_id=S, pricing_tier=S,
                    sub_plan=S, enablement_time=TS, extensions_json=S),
            azure.to_security_pricing_row),
        DatasetSpec(
            "azure__security_connectors", "azure",
            "Resource Graph rows of type microsoft.security/securityconnectors (AWS and GCP connectors)",
            _schema(resource_id=S, name=S, subscription_id=S, environment_name=S, hierarchy_identifier=S,
                    servers_offering_type=S, servers_sub_plan=S, offerings_json=S),
            azure.to_security_connector_row),
        DatasetSpec(
            "azure__security_assessments", "azure", "securityresources rows of type microsoft.security/assessments",
            _schema(resource_id=S, assessment_key=S, subscription_id=S, assessed_resource_id=S,
                    resource_source=S, display_name=S, status_code=S, status_cause=S, status_description=S,
                    status_change_date=TS),
            azure.to_security_assessment_row),
        DatasetSpec(
            "azure__change_tracking", "azure",
            "Log Analytics ConfigurationData rows (Change Tracking and Inventory: software, services, daemons)",
            _schema(machine_resource_id=S, computer=S, config_data_type=S, software_name=S, software_type=S,
                    publisher=S, current_version=S, svc_name=S, svc_display_name=S, svc_state=S,
                    svc_startup_type=S, time_generated=TS),
            azure.to_change_tracking_row),
        DatasetSpec(
            "aws__ec2_instances", "aws", "ec2:DescribeInstances Reservations[].Instances[]",
            _schema(instance_id=S, account_id=S, region=S, reservation_id=S, instance_type=S, image_id=S,
                    state_name=S, state_code=pa.int32(), state_transition_reason=S, launch_time=TS,
                    platform=S, platform_details=S, private_dns_name=S, private_ip_address=S, tags_json=S),
            aws.to_ec2_instance_row),
        DatasetSpec(
            "aws__ssm_instance_information", "aws", "ssm:DescribeInstanceInformation InstanceInformationList[]",
            _schema(instance_id=S, account_id=S, region=S, ping_status=S, last_ping_at=TS, agent_version=S,
                    platform_type=S, platform_name=S, platform_version=S, computer_name=S, ip_address=S,
                    resource_type=S),
            aws.to_ssm_instance_information_row),
        DatasetSpec(
            "aws__ssm_applications", "aws", "ssm:ListInventoryEntries Entries[] of type AWS:Application",
            _schema(instance_id=S, account_id=S, region=S, capture_time=TS, name=S, version=S, publisher=S,
                    application_type=S, architecture=S),
            aws.to_ssm_application_row),
        DatasetSpec(
            "aws__ssm_services", "aws", "ssm:ListInventoryEntries Entries[] of type AWS:Service (Windows)",
            _schema(instance_id=S, account_id=S, region=S, capture_time=TS, name=S, display_name=S,
                    status=S, start_type=S, service_type=S),
            aws.to_ssm_service_row),
        DatasetSpec(
            "gcp__compute_instances", "gcp", "Cloud Asset compute.googleapis.com/Instance assets, content RESOURCE",
            _schema(asset_name=S, project_id=S, zone=S, instance_name=S, project_number=S, instance_id=S, status=S,
                    machine_type=S, hostname=S, private_ip_address=S, creation_timestamp=TS,
                    last_start_timestamp=TS, last_stop_timestamp=TS, boot_licenses=S, labels_json=S,
                    update_time=TS),
            gcp.to_compute_instance_row),
        DatasetSpec(
            "gcp__os_inventories", "gcp", "Cloud Asset compute.googleapis.com/Instance assets, content OS_INVENTORY",
            _schema(asset_name=S, project_id=S, zone=S, instance_name=S, os_hostname=S, os_long_name=S,
                    os_short_name=S, os_version=S, osconfig_agent_version=S, inventory_update_time=TS,
                    packages=pa.list_(PACKAGE)),
            gcp.to_os_inventory_row),
    ]
}

# Records the extractors could not read: kept, counted and shown, never silently dropped.
REJECTS = DatasetSpec(
    "rejected_records", "any", "API records that failed extraction, with the error, for audit",
    _schema(dataset=S, error=S), lambda record, **_: record)

# One row per (run, source, scope, dataset) extraction outcome.
EXTRACT_RUNS_SCHEMA = pa.schema([
    pa.field("run_id", S, nullable=False),
    pa.field("source", S, nullable=False),
    pa.field("cloud", S, nullable=False),
    pa.field("scope", S, nullable=False),
    pa.field("dataset", S, nullable=False),
    pa.field("status", S, nullable=False),
    pa.field("rows", pa.int64(), nullable=False),
    pa.field("rejected_rows", pa.int64(), nullable=False),
    pa.field("pages", pa.int64(), nullable=False),
    pa.field("requests", pa.int64(), nullable=False),
    pa.field("started_at", TS, nullable=False),
    pa.field("finished_at", TS, nullable=False),
    pa.field("error_class", S),
    pa.field("error_message", S),
])


def dataset(name: str) -> DatasetSpec:
    """Look a dataset up by name with a clear error for a typo."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown raw dataset {name!r}; known: {', '.join(sorted(DATASETS))}") from None
