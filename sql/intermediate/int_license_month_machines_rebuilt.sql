-- The month before tonight, night by night per machine (int_license_machine_nights over the month's
-- retained nights), which int_license_month_machines sums as it sums a saved month. Read only when the lake
-- holds no usable saved state for the previous night: otherwise the saved one is carried forward.
-- Grain: one row per (machine_key, snapshot_date), snapshot_date left out (the saved state has none).
-- materialized: view (evaluated only by that catch-up)
select * exclude (snapshot_date) from intermediate.int_license_machine_nights
where snapshot_date < getvariable('snapshot_date')
    and snapshot_date >= date_trunc('month', getvariable('snapshot_date'))
