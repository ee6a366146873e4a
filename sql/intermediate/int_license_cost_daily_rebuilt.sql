-- The daily cost trend as of the previous night, recomputed from the retained nights' intervals before
-- tonight. Read only when the lake holds no usable saved trend for the previous night: otherwise
-- marts.license_cost_daily carries the saved one forward by one night.
-- Grain: one row per (snapshot_date, cloud, plan_status).
-- materialized: view (evaluated only by that catch-up)
select * from intermediate.int_license_cost_nights
where snapshot_date < getvariable('snapshot_date')
