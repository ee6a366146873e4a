-- EC2 instances from ec2:DescribeInstances, renamed and cast.
-- Grain: one row per (snapshot_date, account_id, instance_id).
select
    snapshot_date,
    instance_id,
    account_id,
    region,
    reservation_id,
    instance_type,
    image_id,
    state_name,
    state_code,
    state_transition_reason,
    launch_time,
    platform,
    platform_details,
    private_dns_name,
    private_ip_address,
    cast(tags_json as json) as tags,
    scope,
    run_id,
    extracted_at
from raw.aws__ec2_instances
