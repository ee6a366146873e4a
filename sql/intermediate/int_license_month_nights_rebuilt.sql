-- Each night of the month before tonight per dimension combination, recomputed from the retained nights.
-- Read only when the lake holds no usable saved state for the previous night: otherwise
-- int_license_month_nights carries the saved one forward by one night.
-- Grain: one row per (snapshot_date, cloud, scope_id, plan_status, owner, edr_status).
-- materialized: view (evaluated only by that catch-up)
select * from intermediate.int_license_combination_nights
where snapshot_date < getvariable('snapshot_date')
    and snapshot_date >= date_trunc('month', getvariable('snapshot_date'))
