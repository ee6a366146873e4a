-- GCP Compute Engine instances of the snapshot being built, in the canonical machine shape, with the OS
-- from the OS Config inventory when there is one (else from the boot disk licences).
-- Grain: one row per instance asset name.
-- materialized: working (read only by later models of the build: kept in memory, not in the database file)
with instances as (
    select *, cast(null as date) as carried_from
    from staging.stg_gcp__compute_instances
    where snapshot_date = getvariable('snapshot_date')
    union all by name
    -- a scope whose listing failed tonight: its machines as last seen (see int_carry_forward)
    select s.*, s.snapshot_date as carried_from
    from staging.stg_gcp__compute_instances as s
    join intermediate.int_carry_forward as c
        on c.dataset = 'gcp__compute_instances' and c.extract_scope = s.scope and s.snapshot_date = c.from_snapshot
    qualify row_number() over (partition by asset_name order by carried_from nulls first, extracted_at desc) = 1
),

inventories as (
    select asset_name, any_value(os_long_name) as os_long_name, any_value(os_short_name) as os_short_name,
        any_value(os_hostname) as os_hostname
    from staging.stg_gcp__os_inventories
    where snapshot_date = getvariable('snapshot_date')
    group by all
)

select
    'gcp:' || i.project_id || ':' || i.instance_id as machine_key,
    'gcp' as cloud,
    'gcp_instance' as resource_kind,
    i.project_id as scope_id,
    i.scope as extract_scope,
    i.project_number,
    i.machine_name,
    coalesce(inv.os_hostname, i.hostname, i.machine_name) as host_name,
    lower(split_part(coalesce(inv.os_hostname, i.hostname, i.machine_name), '.', 1)) as short_host_name,
    i.asset_name as native_id,
    i.instance_id,
    i.zone as region,
    lower(concat_ws(' ', inv.os_short_name, inv.os_long_name, replace(i.boot_licenses, '-', ' '))) as os_hint,
    coalesce(inv.os_long_name, i.boot_licenses) as os_name,
    'gcp' as power_vocabulary,
    i.status as provider_power_state,
    i.labels as tags,
    i.creation_timestamp as created_at,
    i.last_start_timestamp as last_started_at,
    i.last_stop_timestamp as last_stopped_at,
    i.carried_from,
    getvariable('snapshot_date')::date as snapshot_date
from instances as i
left join inventories as inv using (asset_name)
