-- Each night of the month before tonight per dimension combination, recomputed from the retained nights.
-- Read only when the lake holds no usable saved state for the previous night: otherwise
-- int_license_month_nights carries the saved one forward by one night.
-- Grain: one row per (snapshot_date, cloud, scope_id, plan_status, owner, edr_status).
-- materialized: view (evaluated only by that catch-up)
select cast(date_trunc('month', getvariable('snapshot_date')) as date) as month_start,
    snapshot_date, cloud, scope_id, plan_status, owner, edr_status,
    count(*) filter (where billable_hours > 0)::integer as billed_machines,
    sum(billable_hours) as billable_hours, sum(cost_low) as cost_low, sum(cost) as cost,
    sum(cost_high) as cost_high
from marts.license_hours
where snapshot_date < getvariable('snapshot_date')
    and snapshot_date >= date_trunc('month', getvariable('snapshot_date'))
group by all
