-- The machines' timeline as of the previous night, recomputed from the retained history (gaps and islands
-- over every earlier night). Read only when the lake holds no saved timeline for the previous night (the
-- first build, or after an upgrade or a gap): otherwise marts.machine_timeline carries the saved one
-- forward by one night.
-- Grain: one row per (machine_key, valid_from).
-- materialized: view (evaluated only by that catch-up)
with ordered as (
    select machine_key, snapshot_date, cloud, scope_id, machine_name, edr_status, plan_status, status_reason,
        edr_products,
        -- a new island starts whenever status or plan differs from the machine's previous night
        case when lag(edr_status) over w is distinct from edr_status
                  or lag(plan_status) over w is distinct from plan_status then 1 else 0 end as starts_island
    from derived.machine_snapshots_past
    window w as (partition by machine_key order by snapshot_date)
),

islands as (
    select *, sum(starts_island) over (partition by machine_key order by snapshot_date) as island
    from ordered
)

select
    i.machine_key,
    min(i.snapshot_date) as valid_from,
    max(i.snapshot_date) as valid_to,
    count(*) as nights,
    any_value(i.cloud) as cloud,
    any_value(i.scope_id) as scope_id,
    arg_max(i.machine_name, i.snapshot_date) as machine_name,
    any_value(i.edr_status) as edr_status,
    any_value(i.plan_status) as plan_status,
    arg_max(i.status_reason, i.snapshot_date) as status_reason,
    arg_max(i.edr_products, i.snapshot_date) as edr_products
from islands as i
group by i.machine_key, i.island
