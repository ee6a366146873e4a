-- Licensing per night and combination of the licensing dimensions (billed machines, billable hours and
-- cost), computed when read for the nights asked for: int_license_month_nights adds tonight's to the eve's
-- month, int_license_month_nights_rebuilt reads the month's retained nights when no saved month can be
-- carried.
-- Grain: one row per (snapshot_date, cloud, scope_id, plan_status, owner, edr_status).
-- materialized: view (filtered on snapshot_date by its readers, which the filter prunes to those nights)
select
    cast(date_trunc('month', snapshot_date) as date) as month_start,
    snapshot_date, cloud, scope_id, plan_status, owner, edr_status,
    count(*) filter (where billable_hours > 0)::integer as billed_machines,
    sum(billable_hours) as billable_hours, sum(cost_low) as cost_low, sum(cost) as cost,
    sum(cost_high) as cost_high
from marts.license_hours
group by all
