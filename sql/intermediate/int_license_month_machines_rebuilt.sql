-- The month to date per machine and dimension combination as of the previous night, recomputed from the
-- retained nights of tonight's month before tonight. Read only when the lake holds no usable saved state
-- for the previous night: otherwise int_license_month_machines carries the saved one forward by one night.
-- Grain: one row per (machine_key, cloud, scope_id, plan_status, owner, edr_status, third_party_edr_only,
-- edr_products).
-- materialized: view (evaluated only by that catch-up)
select
    cast(date_trunc('month', getvariable('snapshot_date')) as date) as month_start,
    machine_key, cloud, scope_id, plan_status, owner, edr_status, third_party_edr_only, edr_products,
    count(*)::integer as nights,
    max(snapshot_date) filter (where billable_hours > 0) as last_billed_night,
    sum(running_hours_central) as running_hours,
    sum(billable_hours) as billable_hours,
    sum(cost_low) as cost_low,
    sum(cost) as cost,
    sum(cost_high) as cost_high
from marts.license_hours
where snapshot_date < getvariable('snapshot_date')
    and snapshot_date >= date_trunc('month', getvariable('snapshot_date'))
group by all
