-- The cost to close the EDR gap: the added hourly cost of putting every running machine that has no EDR
-- (edr_status not_installed at the latest night) under Plan 2, and that over 30 days at each machine's
-- running hours observed this month (24 h a day when there is no history yet).
-- Grain: one row per (cloud, scope_id, plan_status) with such machines.
with latest as (
    select max(snapshot_date) as day from marts.machine_history
),

prices as (
    select plan, arg_max(hourly_price, effective_from) as hourly_price
    from config.price_book, latest where effective_from <= latest.day group by plan
),

lacking as (
    select h.machine_key, h.cloud, h.scope_id, h.plan_status,
        (select hourly_price from prices where plan = 'p2') - coalesce(cur.hourly_price, 0) as added_hourly
    from marts.machine_history as h
    join latest as l on h.snapshot_date = l.day
    left join prices as cur on cur.plan = h.plan_status
    where h.edr_status = 'not_installed' and h.power_state = 'running'
),

-- Their observed hours this month (the month to date carried per machine), not re-read from every night.
usage as (
    select machine_key, sum(running_hours) / sum(nights) as daily_hours
    from intermediate.int_license_month_machines
    where machine_key in (select machine_key from lacking)
    group by 1
),

costed as (
    select k.*, coalesce(u.daily_hours, 24) as daily_hours
    from lacking as k
    left join usage as u using (machine_key)
)

select cloud, scope_id, plan_status,
    count(*) as machines_without_edr,
    round(sum(added_hourly), 4) as added_hourly_cost,
    round(sum(added_hourly * daily_hours * 30), 2) as added_cost_30_days,
    getvariable('currency') as currency
from costed
group by all
