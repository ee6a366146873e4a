-- Every retained night's facts per machine: earlier nights from the lake's derived snapshots (not
-- recomputed), tonight's from this build.
-- Grain: one row per (machine_key, snapshot_date).
-- materialized: view (six months of nights at scale: read from the lake, not copied into the database)
select * from derived.machine_snapshots_past
union all by name
select * from intermediate.int_machine_snapshot
