-- Azure VMs of the snapshot being built, in the canonical machine shape (before OS and power mapping).
-- Grain: one row per Azure VM resource id.
-- materialized: working (read only by later models of the build: kept in memory, not in the database file)
with vms as (
    select *, cast(null as date) as carried_from
    from staging.stg_azure__virtual_machines
    where snapshot_date = getvariable('snapshot_date')
    union all by name
    -- a scope whose listing failed tonight: its machines as last seen (see int_carry_forward)
    select s.*, s.snapshot_date as carried_from
    from staging.stg_azure__virtual_machines as s
    join intermediate.int_carry_forward as c
        on c.dataset = 'azure__virtual_machines' and c.extract_scope = s.subscription_id and s.snapshot_date = c.from_snapshot
    qualify row_number() over (partition by resource_id order by carried_from nulls first, extracted_at desc) = 1
)

select
    'azure:' || resource_id as machine_key,
    'azure' as cloud,
    'azure_vm' as resource_kind,
    subscription_id as scope_id,
    subscription_id as extract_scope,
    machine_name,
    coalesce(computer_name, machine_name) as host_name,
    resource_id as native_id,
    region,
    lower(concat_ws(' ', os_type, os_name, image_offer, image_sku)) as os_hint,
    coalesce(os_name || coalesce(' ' || os_version, ''), image_offer || ' ' || image_sku, os_type) as os_name,
    'azure' as power_vocabulary,
    coalesce(power_state_code, 'PowerState/unknown') as provider_power_state,
    tags,
    time_created as created_at,
    cast(null as timestamptz) as last_started_at,
    cast(null as timestamptz) as last_stopped_at,
    carried_from,
    getvariable('snapshot_date')::date as snapshot_date
from vms
