-- Installed software seen on each machine, from every inventory source: Azure Change Tracking software
-- rows, SSM AWS:Application entries and GCP OS Config packages.
-- Grain: one row per (machine_key, source, software record).
-- materialized: view (tens of millions of rows at scale, read once by int_edr_evidence)
with change_tracking as (
    select id.machine_key, 'azure_change_tracking' as evidence_source, ct.software_name as software_name,
        ct.time_generated as observed_at, id.via
    from staging.stg_azure__change_tracking as ct
    join intermediate.int_machine_identities as id
        on id.id_kind = 'azure_resource_id' and id.id_value = ct.machine_resource_id
    where ct.snapshot_date = getvariable('snapshot_date')
        and ct.config_data_type = 'Software' and ct.software_name is not null
),

ssm as (
    select id.machine_key, 'aws_ssm_inventory' as evidence_source, app.application_name,
        app.capture_time, id.via
    from staging.stg_aws__ssm_applications as app
    join intermediate.int_machine_identities as id
        on id.id_kind = 'aws_instance' and id.id_value = app.account_id || ':' || app.instance_id
    where app.snapshot_date = getvariable('snapshot_date')
),

os_config as (
    select id.machine_key, 'gcp_os_inventory' as evidence_source, pkg.package_name,
        pkg.inventory_update_time, id.via
    from staging.stg_gcp__os_inventory_packages as pkg
    join intermediate.int_machine_identities as id
        on id.id_kind = 'gcp_asset' and id.id_value = pkg.asset_name
    where pkg.snapshot_date = getvariable('snapshot_date')
)

select * from change_tracking
union all
select * from ssm
union all
select * from os_config
