-- Services and daemons seen under each machine identifier with their state: Azure Change Tracking
-- WindowsServices and Daemons rows, SSM AWS:Service entries. (GCP OS Config inventories do not list
-- services.) Keyed by the source's identifier, like int_software_observations, for the same reason.
-- Grain: one row per (id_kind, id_value, source, service record).
-- materialized: view (millions of rows at scale, read once by int_edr_evidence)
select 'azure_resource_id' as id_kind, machine_resource_id as id_value, 'azure_change_tracking' as evidence_source,
    svc_name as service_name, svc_display_name as service_display_name, svc_state as service_state,
    svc_startup_type as start_type, time_generated as observed_at
from staging.stg_azure__change_tracking
where snapshot_date = getvariable('snapshot_date')
    and config_data_type in ('WindowsServices', 'Daemons') and svc_name is not null

union all

select 'aws_instance', account_id || ':' || instance_id, 'aws_ssm_inventory', service_name,
    service_display_name, service_status, start_type, capture_time
from staging.stg_aws__ssm_services
where snapshot_date = getvariable('snapshot_date')
