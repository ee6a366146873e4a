-- Installed software seen under each machine identifier, from every inventory source: Azure Change
-- Tracking software rows, SSM AWS:Application entries and GCP OS Config packages. Keyed by the identifier
-- the source uses (id_kind, id_value), not yet by machine: int_edr_evidence matches the EDR catalogue
-- first and resolves identifiers only for the few rows that matched, which keeps the tens of millions of
-- inventory rows out of the (long-string) identity join.
-- Grain: one row per (id_kind, id_value, source, software record).
-- materialized: view (tens of millions of rows at scale, read once by int_edr_evidence)
select 'azure_resource_id' as id_kind, machine_resource_id as id_value, 'azure_change_tracking' as evidence_source,
    software_name, time_generated as observed_at
from staging.stg_azure__change_tracking
where snapshot_date = getvariable('snapshot_date')
    and config_data_type = 'Software' and software_name is not null

union all

select 'aws_instance', account_id || ':' || instance_id, 'aws_ssm_inventory', application_name, capture_time
from staging.stg_aws__ssm_applications
where snapshot_date = getvariable('snapshot_date')

union all

select 'gcp_asset', asset_name, 'gcp_os_inventory', package_name, inventory_update_time
from staging.stg_gcp__os_inventory_packages
where snapshot_date = getvariable('snapshot_date')
