-- Defender for Servers cost by period and dimension: the latest night ("day"), the month to date, and the
-- projected month end: month to date plus the last seven nights' average daily cost for every night of the
-- month without data (the nights still to come, and any before the history began).
-- Dimensions: overall, cloud, scope, plan, owner, edr_status (the machine's verdict that night).
-- Grain: one row per (period, dimension, dimension_value).
with latest as (
    select max(snapshot_date) as day from intermediate.int_license_month_nights
),

-- The month to date, carried from night to night (int_license_month_nights and _machines), so that the
-- work does not grow with the nights retained: sums per night and combination of dimension values (a few
-- thousand rows whatever the estate).
parts as (
    select snapshot_date, cloud, scope_id, plan_status, owner, edr_status, billed_machines, billable_hours,
        cost_low, cost, cost_high
    from intermediate.int_license_month_nights
),

-- The distinct machines billed this month per dimension value (a machine whose plan, owner or verdict
-- changed counts once under each value it had), counted apart from the sums: one plain grouping of the
-- (dimension, value, machine) triples. A distinct count over every machine exploded into six dimensions, in
-- the same aggregate as the sums, was this model's main cost.
billed as (
    select machine_key, cloud, scope_id, plan_status, owner, edr_status
    from intermediate.int_license_month_machines
    where last_billed_night is not null
),

machine_counts as (
    select 'overall' as dimension, 'all machines' as dimension_value, count(distinct machine_key) as mtd_machines
    from billed
    union all
    select dimension, dimension_value, count(*)
    from (
        select distinct dimension, dimension_value, machine_key
        from (
            select 'cloud' as dimension, cloud as dimension_value, machine_key from billed
            union all
            select 'scope', cloud || ' ' || scope_id, machine_key from billed
            union all
            select 'plan', plan_status, machine_key from billed
            union all
            select 'owner', coalesce(owner, '(no owner tag)'), machine_key from billed
            union all
            select 'edr_status', edr_status, machine_key from billed
        )
    )
    group by dimension, dimension_value
),

exploded as (
    select 'overall' as dimension, 'all machines' as dimension_value, * from parts
    union all by name
    select 'cloud' as dimension, cloud as dimension_value, * from parts
    union all by name
    select 'scope' as dimension, cloud || ' ' || scope_id as dimension_value, * from parts
    union all by name
    select 'plan' as dimension, plan_status as dimension_value, * from parts
    union all by name
    select 'owner' as dimension, coalesce(owner, '(no owner tag)') as dimension_value, * from parts
    union all by name
    select 'edr_status' as dimension, edr_status as dimension_value, * from parts
),

sums as (
    select dimension, dimension_value, cast(date_trunc('month', any_value(l.day)) as date) as month_start,
        day(last_day(any_value(l.day))) - count(distinct snapshot_date) as days_without_data,
        max(snapshot_date) filter (where snapshot_date = l.day) as day,
        sum(billed_machines) filter (where snapshot_date = l.day) as day_machines,
        sum(billable_hours) filter (where snapshot_date = l.day) as day_hours,
        sum(cost_low) filter (where snapshot_date = l.day) as day_cost_low,
        sum(cost) filter (where snapshot_date = l.day) as day_cost,
        sum(cost_high) filter (where snapshot_date = l.day) as day_cost_high,
        sum(billable_hours) as mtd_hours,
        sum(cost_low) as mtd_cost_low,
        sum(cost) as mtd_cost,
        sum(cost_high) as mtd_cost_high,
        sum(cost) filter (where snapshot_date > l.day - 7)
            / nullif(count(distinct snapshot_date) filter (where snapshot_date > l.day - 7), 0) as daily_run_rate,
        sum(cost_low) filter (where snapshot_date > l.day - 7)
            / nullif(count(distinct snapshot_date) filter (where snapshot_date > l.day - 7), 0) as daily_run_rate_low,
        sum(cost_high) filter (where snapshot_date > l.day - 7)
            / nullif(count(distinct snapshot_date) filter (where snapshot_date > l.day - 7), 0) as daily_run_rate_high
    from exploded, latest as l
    group by dimension, dimension_value
),

per_group as (
    select s.*, coalesce(c.mtd_machines, 0) as mtd_machines
    from sums as s
    left join machine_counts as c using (dimension, dimension_value)
)

select period, dimension, dimension_value, period_start, machines, round(billable_hours, 2) as billable_hours,
    round(cost_low, 4) as cost_low, round(cost, 4) as cost, round(cost_high, 4) as cost_high,
    getvariable('currency') as currency
from (
    select 'day' as period, dimension, dimension_value, day as period_start, day_machines as machines,
        coalesce(day_hours, 0) as billable_hours, coalesce(day_cost_low, 0) as cost_low,
        coalesce(day_cost, 0) as cost, coalesce(day_cost_high, 0) as cost_high
    from per_group
    union all
    select 'month_to_date', dimension, dimension_value, month_start, mtd_machines, mtd_hours, mtd_cost_low,
        mtd_cost, mtd_cost_high
    from per_group
    union all
    select 'projected_month_end', dimension, dimension_value, month_start, mtd_machines,
        null, mtd_cost_low + days_without_data * coalesce(daily_run_rate_low, 0),
        mtd_cost + days_without_data * coalesce(daily_run_rate, 0),
        mtd_cost_high + days_without_data * coalesce(daily_run_rate_high, 0)
    from per_group
)
