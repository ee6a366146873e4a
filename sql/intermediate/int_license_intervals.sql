-- Billed hours per machine between two consecutive snapshots, for every retained night: the nights saved
-- in lake/derived/license_intervals by earlier builds, plus the ones this build computed
-- (int_license_intervals_new, whose header explains the estimate).
-- Grain: one row per (machine_key, snapshot_date), snapshot_date being the interval's closing night.
-- materialized: view (read from the lake, not copied: a month of intervals at scale)
select * from derived.license_intervals_past
union all by name
select * from intermediate.int_license_intervals_new
