-- Coverage of the estate by dimension: overall, cloud, scope, OS family, EDR product and plan status.
-- Verdict counts are over running machines (stopped ones are counted apart); coverage_pct is
-- protected / (running - exempt - not_applicable), null when nothing running is assessable.
-- Grain: one row per (dimension, dimension_value).
with status as (
    select * from marts.machine_edr_status
),

products as (
    select distinct machine_key, product_name from intermediate.int_edr_evidence
),

exploded as (
    select 'overall' as dimension, 'all machines' as dimension_value, s.* from status as s
    union all by name
    select 'cloud' as dimension, s.cloud as dimension_value, s.* from status as s
    union all by name
    select 'scope' as dimension, s.cloud || ' ' || s.scope_id as dimension_value, s.* from status as s
    union all by name
    select 'os_family' as dimension, s.os_family as dimension_value, s.* from status as s
    union all by name
    select 'plan_status' as dimension, s.plan_status as dimension_value, s.* from status as s
    union all by name
    select 'edr_product' as dimension, coalesce(p.product_name, '(none found)') as dimension_value, s.*
    from status as s
    left join products as p using (machine_key)
)

select
    dimension,
    dimension_value,
    count(*) as machines,
    count(*) filter (where is_running) as running_machines,
    count(*) filter (where power_state = 'stopped') as stopped_machines,
    count(*) filter (where is_running and edr_status = 'protected') as protected,
    count(*) filter (where is_running and edr_status = 'unhealthy') as unhealthy,
    count(*) filter (where is_running and edr_status = 'not_installed') as not_installed,
    count(*) filter (where is_running and edr_status = 'unknown') as unknown,
    count(*) filter (where is_running and edr_status = 'exempt') as exempt,
    count(*) filter (where is_running and edr_status = 'not_applicable') as not_applicable,
    count(*) filter (where power_state = 'stopped' and edr_status in ('not_installed', 'unhealthy', 'unknown'))
        as stopped_without_working_edr,
    round(100.0 * count(*) filter (where is_running and edr_status = 'protected')
        / nullif(count(*) filter (where is_running and edr_status not in ('exempt', 'not_applicable')), 0), 2)
        as coverage_pct,
    any_value(snapshot_date) as snapshot_date
from exploded
group by dimension, dimension_value
