-- SSM managed-node status from ssm:DescribeInstanceInformation, renamed and cast.
-- Grain: one row per (snapshot_date, account_id, instance_id).
select
    snapshot_date,
    instance_id,
    account_id,
    region,
    ping_status,
    last_ping_at,
    agent_version,
    platform_type,
    platform_name,
    platform_version,
    computer_name,
    ip_address,
    resource_type,
    scope,
    run_id
from raw.aws__ssm_instance_information
