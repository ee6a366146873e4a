-- Hourly versus per-seat licensing for the latest month: what the machines billed this month cost by the
-- hour (month to date and projected), and what a flat monthly per-seat licence would cost for the same
-- machines ([licensing] seat_prices; default the hourly price x 730 h, i.e. an always-on server).
-- Grain: one row per plan (p1, p2) plus one 'all' row.
with latest as (
    -- The intervals hold the same nights as license_hours, whose pricing need not run to find the last one.
    select max(snapshot_date) as day from intermediate.int_license_intervals
),

seat as (
    select p.plan, coalesce(s.monthly_price, p.hourly_price * 730) as seat_price
    from (
        select plan, arg_max(hourly_price, effective_from) as hourly_price
        from config.price_book, latest where effective_from <= latest.day group by plan
    ) as p
    left join config.seat_prices as s using (plan)
),

-- The month to date per plan, as the cost summary counted it (machines with billable hours this month).
by_plan as (
    select dimension_value as plan, machines, billable_hours, cost as hourly_cost_mtd
    from marts.license_cost_summary
    where period = 'month_to_date' and dimension = 'plan' and dimension_value in ('p1', 'p2')
),

projected as (
    select dimension_value as plan, cost as hourly_cost_projected
    from marts.license_cost_summary
    where period = 'projected_month_end' and dimension = 'plan'
),

rows as (
    select b.plan, b.machines, b.billable_hours, b.hourly_cost_mtd, p.hourly_cost_projected,
        s.seat_price, b.machines * s.seat_price as per_seat_cost_month
    from by_plan as b
    left join projected as p using (plan)
    left join seat as s using (plan)
)

select plan, machines, round(billable_hours, 2) as billable_hours, round(hourly_cost_mtd, 2) as hourly_cost_mtd,
    round(hourly_cost_projected, 2) as hourly_cost_projected, round(seat_price, 4) as seat_price_monthly,
    round(per_seat_cost_month, 2) as per_seat_cost_month,
    round(per_seat_cost_month - hourly_cost_projected, 2) as saving,
    round(100 * (per_seat_cost_month - hourly_cost_projected) / nullif(per_seat_cost_month, 0), 1) as saving_pct,
    getvariable('currency') as currency
from (
    select * from rows
    union all
    select 'all', sum(machines), sum(billable_hours), sum(hourly_cost_mtd), sum(hourly_cost_projected), null,
        sum(per_seat_cost_month)
    from rows
)
