-- Azure Arc-enabled servers of the snapshot being built, with the cloud identity Defender's multicloud
-- connectors stamp on them (tags), so an EC2 or GCP VM onboarded to Arc can be matched to its cloud record.
-- Grain: one row per Arc machine resource id.
-- materialized: working (read only by later models of the build: kept in memory, not in the database file)
with arc as (
    select *, cast(null as date) as carried_from
    from staging.stg_azure__arc_machines
    where snapshot_date = getvariable('snapshot_date')
    union all by name
    -- a scope whose listing failed tonight: its machines as last seen (see int_carry_forward)
    select s.*, s.snapshot_date as carried_from
    from staging.stg_azure__arc_machines as s
    join intermediate.int_carry_forward as c
        on c.dataset = 'azure__arc_machines' and c.extract_scope = s.subscription_id and s.snapshot_date = c.from_snapshot
    qualify row_number() over (partition by resource_id order by carried_from nulls first, extracted_at desc) = 1
)

select
    resource_id,
    subscription_id,
    machine_name,
    lower(split_part(coalesce(machine_fqdn, machine_name), '.', 1)) as short_host_name,
    coalesce(machine_fqdn, machine_name) as host_name,
    region,
    tags,
    lower(coalesce(cloud_provider, 'N/A')) as cloud_provider,
    -- Defender's AWS connector tags: AccountId, InstanceId (and the Arc name is the instance id).
    tags ->> 'AccountId' as aws_account_id,
    tags ->> 'InstanceId' as aws_instance_id,
    -- Defender's GCP connector tags: ProjectId, ProjectNumber, InstanceName, MachineId (no InstanceId).
    tags ->> 'ProjectId' as gcp_project_id,
    tags ->> 'InstanceName' as gcp_instance_name,
    tags ->> 'MachineId' as gcp_machine_id,
    agent_status,
    lower(concat_ws(' ', os_type, os_name, os_sku)) as os_hint,
    coalesce(os_sku, os_name || coalesce(' ' || os_version, '')) as os_name,
    carried_from,
    getvariable('snapshot_date')::date as snapshot_date
from arc
