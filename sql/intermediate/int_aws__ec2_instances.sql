-- EC2 instances of the snapshot being built, in the canonical machine shape, with the SSM platform
-- name (better than PlatformDetails for Linux distributions).
-- Grain: one row per (account_id, instance_id).
-- materialized: working (read only by later models of the build: kept in memory, not in the database file)
with ec2 as (
    select *, cast(null as date) as carried_from
    from staging.stg_aws__ec2_instances
    where snapshot_date = getvariable('snapshot_date')
    union all by name
    -- a scope whose listing failed tonight: its machines as last seen (see int_carry_forward)
    select s.*, s.snapshot_date as carried_from
    from staging.stg_aws__ec2_instances as s
    join intermediate.int_carry_forward as c
        on c.dataset = 'aws__ec2_instances' and c.extract_scope = s.scope and s.snapshot_date = c.from_snapshot
    qualify row_number() over (partition by account_id, instance_id order by carried_from nulls first, extracted_at desc) = 1
),

ssm as (
    select account_id, instance_id, any_value(platform_name) as platform_name,
        any_value(platform_version) as platform_version, any_value(computer_name) as computer_name
    from staging.stg_aws__ssm_instance_information
    where snapshot_date = getvariable('snapshot_date')
    group by all
)

select
    'aws:' || ec2.account_id || ':' || ec2.instance_id as machine_key,
    'aws' as cloud,
    'aws_ec2' as resource_kind,
    ec2.account_id as scope_id,
    ec2.scope as extract_scope,
    coalesce(ec2.tags ->> 'Name', ec2.instance_id) as machine_name,
    coalesce(ssm.computer_name, ec2.private_dns_name, ec2.instance_id) as host_name,
    lower(split_part(coalesce(ssm.computer_name, ec2.private_dns_name, ''), '.', 1)) as short_host_name,
    ec2.instance_id as native_id,
    ec2.instance_id,
    ec2.region,
    lower(concat_ws(' ', ec2.platform, ssm.platform_name, ec2.platform_details)) as os_hint,
    coalesce(ssm.platform_name || coalesce(' ' || ssm.platform_version, ''), ec2.platform_details) as os_name,
    'aws' as power_vocabulary,
    ec2.state_name as provider_power_state,
    ec2.tags,
    ec2.launch_time as created_at,
    ec2.launch_time as last_started_at,
    -- "User initiated (2024-05-01 10:00:00 GMT)": the time EC2 records for the last stop.
    try_strptime(regexp_extract(ec2.state_transition_reason, '\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)', 1),
        '%Y-%m-%d %H:%M:%S')::timestamptz as last_stopped_at,
    ec2.carried_from,
    getvariable('snapshot_date')::date as snapshot_date
from ec2
left join ssm
    on ssm.account_id = ec2.account_id and ssm.instance_id = ec2.instance_id
