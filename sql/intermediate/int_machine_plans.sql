-- The Defender for Servers plan covering each machine and where that answer came from.
-- Precedence: a configured override; a resource-level pricing; the subscription's pricing (Azure and Arc)
-- or the multicloud security connector of the AWS account / GCP project; a configured default; unknown.
-- Grain: one row per machine_key.
-- materialized: working (read only by later models of the build: kept in memory, not in the database file)
with pricings as (
    select scope_resource_id,
        case
            when pricing_tier = 'Free' then 'off'
            when upper(sub_plan) = 'P1' then 'p1'
            else 'p2'  -- Standard without a sub-plan is the original, full plan: Plan 2
        end as plan
    from staging.stg_azure__security_pricings
    where snapshot_date = getvariable('snapshot_date') and pricing_name = 'VirtualMachines'
    qualify row_number() over (partition by scope_resource_id order by pricing_id) = 1
),

connectors as (
    select environment, hierarchy_identifier,
        case
            when servers_offering_type is null then 'off'
            when upper(servers_sub_plan) = 'P1' then 'p1'
            else 'p2'
        end as plan
    from staging.stg_azure__security_connectors
    where snapshot_date = getvariable('snapshot_date')
    qualify row_number() over (partition by environment, hierarchy_identifier order by connector_id) = 1
),

machines as (
    select m.machine_key, m.cloud, m.resource_kind, m.scope_id, m.native_id, g.project_number
    from intermediate.int_machines__unioned as m
    left join intermediate.int_gcp__compute_instances as g using (machine_key)
),

candidates as (
    select m.machine_key, o.plan, 'config_override' as plan_source, 1 as precedence
    from machines as m
    join config.plan_overrides as o on o.cloud = m.cloud and o.scope_id in (m.scope_id, m.project_number)

    union all

    select m.machine_key, p.plan, 'resource_pricing', 2
    from machines as m
    join pricings as p on p.scope_resource_id = m.native_id

    union all

    select m.machine_key, p.plan, 'subscription_pricing', 3
    from machines as m
    join pricings as p on p.scope_resource_id = '/subscriptions/' || m.scope_id
    where m.cloud = 'azure'

    union all

    select m.machine_key, c.plan, 'security_connector', 3
    from machines as m
    join connectors as c
        on c.environment = m.cloud and c.hierarchy_identifier in (m.scope_id, m.project_number)

    union all

    select m.machine_key, d.plan, 'config_default', 4
    from machines as m
    join config.plan_defaults as d on d.cloud = m.cloud
),

-- The strongest candidate per machine: the lowest precedence, then the fuller plan (p2, p1, off). One
-- aggregate over the candidates, not a window sorting each machine's candidates.
strongest as (
    select machine_key,
        arg_min({'plan': plan, 'plan_source': plan_source},
            precedence * 4 - case plan when 'p2' then 2 when 'p1' then 1 else 0 end) as best
    from candidates
    group by machine_key
)

select
    m.machine_key,
    coalesce(c.best.plan, 'unknown') as plan_status,
    coalesce(c.best.plan_source, 'none') as plan_source
from machines as m
left join strongest as c using (machine_key)
