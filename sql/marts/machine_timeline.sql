-- Each machine's history as intervals of unchanged EDR status and plan (gaps and islands over the retained
-- nights, six months by default): when a status began, when it last held, for how many nights.
-- Grain: one row per (machine_key, valid_from).
with ordered as (
    select machine_key, snapshot_date, cloud, scope_id, machine_name, edr_status, plan_status, status_reason,
        edr_products,
        -- a new island starts whenever status or plan differs from the machine's previous night
        case when lag(edr_status) over w is distinct from edr_status
                  or lag(plan_status) over w is distinct from plan_status then 1 else 0 end as starts_island
    from marts.machine_history
    window w as (partition by machine_key order by snapshot_date)
),

islands as (
    select *, sum(starts_island) over (partition by machine_key order by snapshot_date) as island
    from ordered
),

latest as (
    select max(snapshot_date) as night from marts.machine_history
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
    arg_max(i.edr_products, i.snapshot_date) as edr_products,
    max(i.snapshot_date) = any_value(l.night) as is_current
from islands as i, latest as l
group by i.machine_key, i.island
