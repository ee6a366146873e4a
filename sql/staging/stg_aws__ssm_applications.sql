-- SSM inventory AWS:Application entries (installed software and packages), renamed and cast.
-- Grain: one row per (snapshot_date, account_id, instance_id, application entry).
select
    snapshot_date,
    instance_id,
    account_id,
    region,
    capture_time,
    name as application_name,
    version as application_version,
    publisher,
    application_type,
    architecture,
    scope,
    run_id
from raw.aws__ssm_applications
