-- Machine listings that failed tonight, and the newest earlier snapshot that listed the same scope: their
-- machines are carried forward from it (and judged "unknown, source_failed") instead of vanishing.
-- Grain: one row per (dataset, extract_scope).
with failed as (
    select dataset, scope
    from staging.stg_extract_runs
    where snapshot_date = getvariable('snapshot_date') and status = 'failed'
        and dataset in ('azure__virtual_machines', 'azure__arc_machines', 'aws__ec2_instances',
                        'gcp__compute_instances')
),

landed_before as (
    select distinct 'azure__virtual_machines' as dataset, subscription_id as extract_scope, snapshot_date
    from staging.stg_azure__virtual_machines where snapshot_date < getvariable('snapshot_date')
    union all
    select distinct 'azure__arc_machines', subscription_id, snapshot_date
    from staging.stg_azure__arc_machines where snapshot_date < getvariable('snapshot_date')
    union all
    select distinct 'aws__ec2_instances', scope, snapshot_date
    from staging.stg_aws__ec2_instances where snapshot_date < getvariable('snapshot_date')
    union all
    select distinct 'gcp__compute_instances', scope, snapshot_date
    from staging.stg_gcp__compute_instances where snapshot_date < getvariable('snapshot_date')
)

select l.dataset, l.extract_scope, max(l.snapshot_date) as from_snapshot
from failed as f
-- a failed scope may be a wildcard ("123456789012/*": every region of the account; "*": everything)
join landed_before as l on l.dataset = f.dataset and l.extract_scope like replace(f.scope, '*', '%')
group by all
