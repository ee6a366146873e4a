-- The instant of the snapshot being built: when its machine listings were extracted (the earliest),
-- else midnight of the snapshot date. Cost intervals run from one snapshot's instant to the next.
-- Grain: one row.
with listed as (
    select min(extracted_at) as extracted_at from staging.stg_azure__virtual_machines
    where snapshot_date = getvariable('snapshot_date')
    union all
    select min(extracted_at) from staging.stg_aws__ec2_instances where snapshot_date = getvariable('snapshot_date')
    union all
    select min(extracted_at) from staging.stg_gcp__compute_instances
    where snapshot_date = getvariable('snapshot_date')
    union all
    select min(extracted_at) from staging.stg_azure__arc_machines where snapshot_date = getvariable('snapshot_date')
)

select
    getvariable('snapshot_date')::date as snapshot_date,
    coalesce(min(extracted_at), getvariable('snapshot_date')::timestamptz) as snapshot_at
from listed
