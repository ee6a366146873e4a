-- Every retained night's facts per machine: earlier nights from the lake's derived snapshots (not
-- recomputed), tonight's from this build.
-- Grain: one row per (machine_key, snapshot_date).
select * from derived.machine_snapshots_past
union all by name
select * from intermediate.int_machine_snapshot
