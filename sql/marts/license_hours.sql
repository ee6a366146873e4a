-- Defender for Servers billed hours and cost per machine per night: running (billed-state) hours with a low,
-- central and high estimate, the plan, the hours billable under it and their cost at the price in force
-- that day. The headline uses the central estimate: the exact hours when the clouds' timestamps pin them
-- down, otherwise the midpoint of the bounds.
-- Grain: one row per (machine_key, snapshot_date); snapshot_date closes the interval (the 24 h before it).
-- materialized: view (a month and more of machine-nights at scale: computed when read, from the intervals
-- saved in the lake, rather than copied into the database every night)
-- The price in force each night for each plan: a small table, so pricing is an equality hash join.
with night_prices as (
    select n.snapshot_date, p.plan, arg_max(p.hourly_price, p.effective_from) as hourly_price
    from (select distinct snapshot_date from intermediate.int_license_intervals) as n
    join config.price_book as p on p.effective_from <= n.snapshot_date
    group by all
),

priced as (
    select i.*, p.hourly_price
    from intermediate.int_license_intervals as i
    left join night_prices as p on p.plan = i.plan_status and p.snapshot_date = i.snapshot_date
)

select
    machine_key,
    snapshot_date,
    interval_start,
    interval_end,
    round(interval_hours, 4) as interval_hours,
    cloud,
    scope_id,
    owner,
    plan_status,
    edr_status,
    power_state,
    third_party_edr_only,
    edr_products,
    round(running_hours_low, 4) as running_hours_low,
    round((running_hours_low + running_hours_high) / 2, 4) as running_hours_central,
    round(running_hours_high, 4) as running_hours_high,
    case when running_hours_low = running_hours_high then 'exact' else 'bounded' end as estimate_method,
    case when plan_status in ('p1', 'p2') then round((running_hours_low + running_hours_high) / 2, 4) else 0 end
        as billable_hours,
    coalesce(hourly_price, 0) as hourly_price,
    -- A view is read after the build: the currency comes from the price book (held in the report currency
    -- only), not from a build variable.
    (select any_value(currency) from config.price_book) as currency,
    case when plan_status in ('p1', 'p2') then running_hours_low * hourly_price else 0 end as cost_low,
    case when plan_status in ('p1', 'p2') then (running_hours_low + running_hours_high) / 2 * hourly_price else 0 end
        as cost,
    case when plan_status in ('p1', 'p2') then running_hours_high * hourly_price else 0 end as cost_high
from priced
