-- Scopes whose extraction failed for the snapshot being built: machines there may be missing evidence,
-- so they can only be "unknown (source_failed)", never "not_installed".
-- Grain: one row per (cloud, scope, dataset) that failed.
select cloud, scope, dataset, any_value(error_class) as error_class, any_value(error_message) as error_message
from staging.stg_extract_runs
where snapshot_date = getvariable('snapshot_date') and status = 'failed'
group by all
