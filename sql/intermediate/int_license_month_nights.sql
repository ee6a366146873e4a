-- Each night of the month to date per combination of the licensing dimensions: billed machines, billable
-- hours and cost, for the day's figures, the nights with data and the last week's run rate. Carried like
-- int_license_month_machines (lake/derived/license_month_nights; recomputed by
-- int_license_month_nights_rebuilt when the previous night's state is missing or made otherwise).
-- Grain: one row per (snapshot_date, cloud, scope_id, plan_status, owner, edr_status).
with previous as (
    select snapshot_date, cloud, scope_id, plan_status, owner, edr_status, billed_machines, billable_hours,
        cost_low, cost, cost_high
    from derived.license_month_nights_past
    where month_start = date_trunc('month', getvariable('snapshot_date'))
),

tonight as (
    select snapshot_date, cloud, scope_id, plan_status, owner, edr_status,
        count(*) filter (where billable_hours > 0)::integer as billed_machines,
        sum(billable_hours) as billable_hours, sum(cost_low) as cost_low, sum(cost) as cost,
        sum(cost_high) as cost_high
    from marts.license_hours
    where snapshot_date = getvariable('snapshot_date')
    group by all
)

select cast(date_trunc('month', getvariable('snapshot_date')) as date) as month_start, *
from (select * from previous union all by name select * from tonight)
