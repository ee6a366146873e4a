-- The month to date per machine and combination of the licensing dimensions: nights, hours in a billed
-- state, billable hours and cost, the last night it was billed. Carried from night to night: the state saved
-- by the previous night's build (lake/derived/license_month_machines) plus tonight's nights
-- (int_license_machine_nights), so a nightly build reads one night of license_hours, not the month. With no
-- saved state for that night (the first build, an upgrade, a lost folder) or one made otherwise (a
-- price-book change or a new version: see carried_fingerprints in transforms/history.py),
-- int_license_month_machines_rebuilt hands it the month's retained nights instead. A new month starts empty.
-- Grain: one row per (machine_key, cloud, scope_id, plan_status, owner, edr_status, third_party_edr_only,
-- edr_products).
-- materialized: working (read by the licensing marts and saved to the lake, not kept in the database file)
with previous as (
    select * from derived.license_month_machines_past
    where month_start = date_trunc('month', getvariable('snapshot_date'))
),

tonight as (
    select * exclude (snapshot_date) from intermediate.int_license_machine_nights
    where snapshot_date = getvariable('snapshot_date')
)

select
    month_start, machine_key, cloud, scope_id, plan_status, owner, edr_status, third_party_edr_only,
    edr_products,
    sum(nights)::integer as nights,
    max(last_billed_night) as last_billed_night,
    sum(running_hours) as running_hours,
    sum(billable_hours) as billable_hours,
    sum(cost_low) as cost_low,
    sum(cost) as cost,
    sum(cost_high) as cost_high
from (select * from previous union all by name select * from tonight)
group by all
