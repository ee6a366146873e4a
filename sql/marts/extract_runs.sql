-- Outcome of every (source, scope, dataset) extraction of every retained snapshot: rows, pages,
-- requests, duration and, for failures, the error class and message (secrets redacted at source).
-- Grain: one row per (snapshot_date, run_id, source, scope, dataset) job; an AWS region whose SSM inventory is
-- read in shards has one row per shard for aws__ssm_applications and aws__ssm_services (same scope).
select
    snapshot_date,
    run_id,
    source,
    cloud,
    scope,
    dataset,
    status,
    rows,
    rejected_rows,
    pages,
    requests,
    started_at,
    finished_at,
    duration_s,
    error_class,
    error_message
from staging.stg_extract_runs
