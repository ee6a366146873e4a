-- Each machine's licensing night in the shape of the month to date (one night, its hours and costs, the
-- night itself when it was billed), computed when read for the nights asked for: int_license_month_machines
-- sums tonight's into the eve's month, int_license_month_machines_rebuilt hands it the month's retained
-- nights when no saved month can be carried.
-- Grain: one row per (machine_key, snapshot_date).
-- materialized: view (filtered on snapshot_date by its readers, which the filter prunes to those nights)
select
    snapshot_date,
    cast(date_trunc('month', snapshot_date) as date) as month_start,
    machine_key, cloud, scope_id, plan_status, owner, edr_status, third_party_edr_only, edr_products,
    1 as nights,
    case when billable_hours > 0 then snapshot_date end as last_billed_night,
    running_hours_central as running_hours,
    billable_hours, cost_low, cost, cost_high
from marts.license_hours
