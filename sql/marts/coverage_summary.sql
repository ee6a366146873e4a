-- Coverage of the estate by dimension: overall, cloud, scope, OS family, EDR product and plan status.
-- Verdict counts are over running machines (stopped ones are counted apart); coverage_pct is
-- protected / (running - exempt - not_applicable), null when nothing running is assessable.
-- Grain: one row per (dimension, dimension_value).
with machine_products as (
    select machine_key, list_sort(list(distinct product_name)) as product_names
    from intermediate.int_edr_evidence
    group by machine_key
),

-- Machines sharing every attribute a dimension can take, counted: the million machines are read once and
-- the six dimensions below are cut from a few thousand groups.
machine_groups as (
    select s.cloud, s.scope_id, s.os_family, s.plan_status, s.is_running, s.power_state = 'stopped' as is_stopped,
        s.edr_status, coalesce(p.product_names, ['(none found)']) as product_names, count(*) as machines,
        any_value(s.snapshot_date) as snapshot_date
    from marts.machine_edr_status as s
    left join machine_products as p using (machine_key)
    group by all
),

exploded as (
    select 'overall' as dimension, 'all machines' as dimension_value, g.* from machine_groups as g
    union all by name
    select 'cloud' as dimension, g.cloud as dimension_value, g.* from machine_groups as g
    union all by name
    select 'scope' as dimension, g.cloud || ' ' || g.scope_id as dimension_value, g.* from machine_groups as g
    union all by name
    select 'os_family' as dimension, g.os_family as dimension_value, g.* from machine_groups as g
    union all by name
    select 'plan_status' as dimension, g.plan_status as dimension_value, g.* from machine_groups as g
    union all by name
    select 'edr_product' as dimension, unnest(g.product_names) as dimension_value, g.* from machine_groups as g
)

select
    dimension,
    dimension_value,
    sum(machines)::bigint as machines,
    coalesce(sum(machines) filter (where is_running), 0)::bigint as running_machines,
    coalesce(sum(machines) filter (where is_stopped), 0)::bigint as stopped_machines,
    coalesce(sum(machines) filter (where is_running and edr_status = 'protected'), 0)::bigint as protected,
    coalesce(sum(machines) filter (where is_running and edr_status = 'unhealthy'), 0)::bigint as unhealthy,
    coalesce(sum(machines) filter (where is_running and edr_status = 'not_installed'), 0)::bigint as not_installed,
    coalesce(sum(machines) filter (where is_running and edr_status = 'unknown'), 0)::bigint as unknown,
    coalesce(sum(machines) filter (where is_running and edr_status = 'exempt'), 0)::bigint as exempt,
    coalesce(sum(machines) filter (where is_running and edr_status = 'not_applicable'), 0)::bigint as not_applicable,
    coalesce(sum(machines) filter (where is_stopped and edr_status in ('not_installed', 'unhealthy', 'unknown')), 0)::bigint
        as stopped_without_working_edr,
    round(100.0 * coalesce(sum(machines) filter (where is_running and edr_status = 'protected'), 0)
        / nullif(coalesce(sum(machines) filter (where is_running and edr_status not in ('exempt', 'not_applicable')), 0), 0), 2)
        as coverage_pct,
    any_value(snapshot_date) as snapshot_date
from exploded
group by dimension, dimension_value
