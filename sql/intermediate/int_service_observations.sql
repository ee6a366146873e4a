-- Services and daemons seen on each machine with their state: Azure Change Tracking WindowsServices and
-- Daemons rows, SSM AWS:Service entries. (GCP OS Config inventories do not list services.)
-- Grain: one row per (machine_key, source, service record).
-- materialized: view (tens of millions of rows at scale, read once by int_edr_evidence)
with change_tracking as (
    select id.machine_key, 'azure_change_tracking' as evidence_source, ct.svc_name as service_name,
        ct.svc_display_name as service_display_name, ct.svc_state as service_state,
        ct.svc_startup_type as start_type, ct.time_generated as observed_at, id.via
    from staging.stg_azure__change_tracking as ct
    join intermediate.int_machine_identities as id
        on id.id_kind = 'azure_resource_id' and id.id_value = ct.machine_resource_id
    where ct.snapshot_date = getvariable('snapshot_date')
        and ct.config_data_type in ('WindowsServices', 'Daemons') and ct.svc_name is not null
),

ssm as (
    select id.machine_key, 'aws_ssm_inventory' as evidence_source, svc.service_name,
        svc.service_display_name, svc.service_status, svc.start_type, svc.capture_time, id.via
    from staging.stg_aws__ssm_services as svc
    join intermediate.int_machine_identities as id
        on id.id_kind = 'aws_instance' and id.id_value = svc.account_id || ':' || svc.instance_id
    where svc.snapshot_date = getvariable('snapshot_date')
)

select * from change_tracking
union all
select * from ssm
