-- API records the landing could not read, with the error and the original JSON.
-- Grain: one row per rejected record per snapshot.
select
    snapshot_date,
    dataset,
    scope,
    error,
    raw_json,
    run_id
from raw.rejected_records
