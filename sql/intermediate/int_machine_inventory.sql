-- How complete and fresh the evidence about each machine is: the latest inventory observation from any
-- source (Change Tracking, SSM inventory, OS Config, Defender's agentless EDR assessment) and, when there
-- is none fresh enough, why. Only fresh, complete evidence lets us say "no EDR installed".
-- Grain: one row per machine_key.
with observations as (
    select id.machine_key, 'azure_change_tracking' as inventory_source, max(ct.time_generated) as observed_at
    from staging.stg_azure__change_tracking as ct
    join intermediate.int_machine_identities as id
        on id.id_kind = 'azure_resource_id' and id.id_value = ct.machine_resource_id
    where ct.snapshot_date = getvariable('snapshot_date')
    group by all

    union all

    select id.machine_key, 'aws_ssm_inventory', max(app.capture_time)
    from staging.stg_aws__ssm_applications as app
    join intermediate.int_machine_identities as id
        on id.id_kind = 'aws_instance' and id.id_value = app.account_id || ':' || app.instance_id
    where app.snapshot_date = getvariable('snapshot_date')
    group by all

    union all

    select id.machine_key, 'gcp_os_inventory', max(inv.inventory_update_time)
    from staging.stg_gcp__os_inventories as inv
    join intermediate.int_machine_identities as id
        on id.id_kind = 'gcp_asset' and id.id_value = inv.asset_name
    where inv.snapshot_date = getvariable('snapshot_date')
    group by all

    union all

    -- Defender's agentless scan is complete evidence either way (Healthy or Unhealthy).
    select id.machine_key, 'defender_assessment', max(coalesce(a.status_change_date, getvariable('as_of')::timestamptz))
    from staging.stg_azure__security_assessments as a
    join seeds.defender_assessments as d on d.assessment_key = a.assessment_key and d.meaning = 'edr_installed'
    join intermediate.int_machine_identities as id
        on id.id_kind = 'azure_resource_id' and id.id_value = a.assessed_resource_id
    where a.snapshot_date = getvariable('snapshot_date') and a.status_code in ('Healthy', 'Unhealthy')
    group by all
),

ssm_agents as (
    select 'aws:' || account_id || ':' || instance_id as machine_key, any_value(ping_status) as ping_status
    from staging.stg_aws__ssm_instance_information
    where snapshot_date = getvariable('snapshot_date')
    group by all
),

latest as (
    select machine_key,
        max(observed_at) as inventory_observed_at,
        arg_max(inventory_source, observed_at) as inventory_source,
        string_agg(distinct inventory_source, ',' order by inventory_source) as inventory_sources
    from observations
    group by machine_key
)

select
    m.machine_key,
    l.inventory_source,
    l.inventory_sources,
    l.inventory_observed_at,
    s.ping_status as ssm_ping_status,
    coalesce(
        l.inventory_observed_at >= getvariable('as_of')::timestamptz
            - to_days(cast(getvariable('stale_after_days') as integer)),
        false
    ) as inventory_fresh,
    case
        when l.inventory_observed_at is null and m.resource_kind = 'aws_ec2' and s.ping_status is null
            then 'no_inventory_agent'
        when l.inventory_observed_at is null and m.resource_kind = 'gcp_instance' then 'no_inventory_agent'
        when l.inventory_observed_at is null then 'no_inventory'
        when l.inventory_observed_at < getvariable('as_of')::timestamptz
            - to_days(cast(getvariable('stale_after_days') as integer)) then 'inventory_stale'
    end as inventory_gap
from intermediate.int_machines__unioned as m
left join latest as l using (machine_key)
left join ssm_agents as s using (machine_key)
