-- Each night of the month to date per combination of the licensing dimensions: billed machines, billable
-- hours and cost, for the day's figures, the nights with data and the last week's run rate. Carried like
-- int_license_month_machines (lake/derived/license_month_nights): the eve's month plus tonight's row of
-- int_license_combination_nights; int_license_month_nights_rebuilt when the eve's is missing or made
-- otherwise.
-- Grain: one row per (snapshot_date, cloud, scope_id, plan_status, owner, edr_status).
-- materialized: working (read by the licensing marts and saved to the lake, not kept in the database file)
select * from derived.license_month_nights_past
where month_start = date_trunc('month', getvariable('snapshot_date'))
union all by name
select * from intermediate.int_license_combination_nights
where snapshot_date = getvariable('snapshot_date')
