-- Daily Defender for Servers cost, for trends: per night, cloud and plan.
-- Grain: one row per (snapshot_date, cloud, plan_status).
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
