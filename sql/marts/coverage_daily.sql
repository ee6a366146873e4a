-- Coverage trend: per night, cloud, scope and OS family, the verdict counts over running machines and the
-- coverage percentage (protected / (running - exempt - not_applicable)), for every retained night.
-- Carried from night to night: the trend saved by the previous night's build (lake/derived/coverage_daily)
-- without the nights that have left the retention window, plus tonight's (int_coverage_nights), so a
-- nightly build reads one night of machines, not the whole history. With no usable saved trend,
-- int_coverage_daily_rebuilt recomputes the earlier nights from the retained snapshots.
-- Grain: one row per (snapshot_date, cloud, scope_id, os_family).
select * from derived.coverage_daily_past
where snapshot_date >= (select min(snapshot_date) from derived.saved_nights where dataset = 'machine_snapshots')
union all by name
select * from intermediate.int_coverage_nights
where snapshot_date = getvariable('snapshot_date')
