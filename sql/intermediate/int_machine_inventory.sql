-- How complete and fresh the evidence about each machine is: the latest inventory observation from any
-- source (Change Tracking, SSM inventory, OS Config, Defender's agentless EDR assessment) and, when there
-- is none fresh enough, why. Only fresh, complete evidence lets us say "no EDR installed".
-- Grain: one row per machine_key.
-- materialized: working (read only by later models of the build: kept in memory, not in the database file)
-- Each source is reduced to its newest observation per identifier before identifiers are resolved to
-- machines, so the join on long resource ids sees one row per machine, not one per inventory row.
with latest_by_id as (
    select 'azure_resource_id' as id_kind, machine_resource_id as id_value,
        'azure_change_tracking' as inventory_source, max(time_generated) as observed_at
    from staging.stg_azure__change_tracking
    where snapshot_date = getvariable('snapshot_date')
    group by all

    union all

    select 'aws_instance', account_id || ':' || instance_id, 'aws_ssm_inventory', max(capture_time)
    from staging.stg_aws__ssm_applications
    where snapshot_date = getvariable('snapshot_date')
    group by all

    union all

    select 'gcp_asset', asset_name, 'gcp_os_inventory', max(inventory_update_time)
    from staging.stg_gcp__os_inventories
    where snapshot_date = getvariable('snapshot_date')
    group by all

    union all

    -- Defender's agentless scan is complete evidence either way (Healthy or Unhealthy).
    select 'azure_resource_id', a.assessed_resource_id, 'defender_assessment',
        max(coalesce(a.status_change_date, getvariable('as_of')::timestamptz))
    from staging.stg_azure__security_assessments as a
    join seeds.defender_assessments as d on d.assessment_key = a.assessment_key and d.meaning = 'edr_installed'
    where a.snapshot_date = getvariable('snapshot_date') and a.status_code in ('Healthy', 'Unhealthy')
    group by all
),

observations as (
    select id.machine_key, l.inventory_source, l.observed_at
    from latest_by_id as l
    join intermediate.int_machine_identities as id using (id_kind, id_value)
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
        arg_max(inventory_source, observed_at) as inventory_source
    from observations
    group by machine_key
)

select
    m.machine_key,
    l.inventory_source,
    l.inventory_observed_at,
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
