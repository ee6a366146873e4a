-- Plan 2 hours spent this month on machines whose only working EDR is a third-party product: Plan 2 pays
-- for a Defender for Endpoint licence they do not use (Plan 1, or excluding them, would cost less).
-- Grain: one row per (cloud, scope_id, edr_products).
with latest as (
    -- The intervals hold the same nights as license_hours, whose pricing need not run to find the last one.
    select max(snapshot_date) as day from intermediate.int_license_intervals
),

prices as (
    select plan, arg_max(hourly_price, effective_from) as hourly_price
    from config.price_book, latest where effective_from <= latest.day group by plan
)

select h.cloud, h.scope_id, h.edr_products,
    count(distinct h.machine_key) as machines,
    round(sum(h.billable_hours), 2) as plan2_hours_mtd,
    round(sum(h.cost), 2) as plan2_cost_mtd,
    round(sum(h.billable_hours) * ((select hourly_price from prices where plan = 'p2')
        - (select hourly_price from prices where plan = 'p1')), 2) as saving_if_plan1_mtd,
    getvariable('currency') as currency
from marts.license_hours as h
join latest as l on date_trunc('month', h.snapshot_date) = date_trunc('month', l.day)
-- The products are those of the closing night: a machine gone by then is not counted (it has none).
where h.plan_status = 'p2' and h.third_party_edr_only and h.edr_products is not null
group by all
