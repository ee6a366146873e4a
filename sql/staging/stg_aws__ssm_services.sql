-- SSM inventory AWS:Service entries (Windows services with their status), renamed and cast.
-- Grain: one row per (snapshot_date, account_id, instance_id, service entry).
select
    snapshot_date,
    instance_id,
    account_id,
    region,
    capture_time,
    name as service_name,
    display_name as service_display_name,
    status as service_status,
    start_type,
    service_type,
    scope,
    run_id
from raw.aws__ssm_services
