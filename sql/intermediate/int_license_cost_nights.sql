-- Defender for Servers cost per night, cloud and plan, computed when read for the nights asked for:
-- marts.license_cost_daily reads tonight's, int_license_cost_daily_rebuilt the retained ones when no saved
-- trend can be carried.
-- Grain: one row per (snapshot_date, cloud, plan_status).
-- materialized: view (filtered on snapshot_date by its readers, which the filter prunes to those nights)
select
    snapshot_date,
    cloud,
    plan_status,
    count(*) filter (where billable_hours > 0) as billed_machines,
    round(sum(billable_hours), 2) as billable_hours,
    round(sum(cost_low), 4) as cost_low,
    round(sum(cost), 4) as cost,
    round(sum(cost_high), 4) as cost_high,
    any_value(currency) as currency
from marts.license_hours
group by all
