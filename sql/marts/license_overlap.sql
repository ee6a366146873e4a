-- Plan 2 hours spent this month on machines whose only working EDR is a third-party product: Plan 2 pays
-- for a Defender for Endpoint licence they do not use (Plan 1, or excluding them, would cost less).
-- Read from the month to date carried per machine (int_license_month_machines), not from every night.
-- Grain: one row per (cloud, scope_id, edr_products).
with latest as (
    select max(snapshot_date) as day from intermediate.int_license_month_nights
),

prices as (
    select plan, arg_max(hourly_price, effective_from) as hourly_price
    from config.price_book, latest where effective_from <= latest.day group by plan
)

select m.cloud, m.scope_id, m.edr_products,
    count(distinct m.machine_key) as machines,
    round(sum(m.billable_hours), 2) as plan2_hours_mtd,
    round(sum(m.cost), 2) as plan2_cost_mtd,
    round(sum(m.billable_hours) * ((select hourly_price from prices where plan = 'p2')
        - (select hourly_price from prices where plan = 'p1')), 2) as saving_if_plan1_mtd,
    getvariable('currency') as currency
from intermediate.int_license_month_machines as m
-- The products are those of the closing night: a machine gone by then is not counted (it has none).
where m.plan_status = 'p2' and m.third_party_edr_only and m.edr_products is not null
group by all
