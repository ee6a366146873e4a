-- Daily Defender for Servers cost, for trends: per night, cloud and plan, for every retained night.
-- Carried from night to night like coverage_daily: the trend saved by the previous night's build
-- (lake/derived/license_cost_daily) without the nights that have left the retention window, plus tonight's
-- (int_license_cost_nights). With no saved trend, or one priced otherwise (see carried_fingerprints in
-- transforms/history.py), int_license_cost_daily_rebuilt recomputes the earlier nights.
-- Grain: one row per (snapshot_date, cloud, plan_status).
select * from derived.license_cost_daily_past
where snapshot_date >= (select min(snapshot_date) from derived.saved_nights where dataset = 'machine_snapshots')
union all by name
select * from intermediate.int_license_cost_nights
where snapshot_date = getvariable('snapshot_date')
