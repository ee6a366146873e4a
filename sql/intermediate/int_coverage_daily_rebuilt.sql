-- The coverage trend as of the previous night, recomputed from the retained snapshots before tonight. Read
-- only when the lake holds no usable saved trend for the previous night: otherwise marts.coverage_daily
-- carries the saved one forward by one night.
-- Grain: one row per (snapshot_date, cloud, scope_id, os_family).
-- materialized: view (evaluated only by that catch-up)
select * from intermediate.int_coverage_nights
where snapshot_date < getvariable('snapshot_date')
