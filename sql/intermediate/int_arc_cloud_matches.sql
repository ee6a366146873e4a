-- Arc-enabled servers that are really EC2 instances or GCP VMs, matched to their cloud record so each
-- machine is counted once. Strongest method first: the cloud instance id Defender's connectors put in
-- the Arc tags, then the host name (only for Arc machines whose cloud metadata names that cloud).
-- Grain: one row per matched Arc machine resource id.
-- materialized: working (read only by later models of the build: kept in memory, not in the database file)
with arc as (
    select * from intermediate.int_azure__arc_machines
),

by_aws_instance_id as (
    select arc.resource_id, ec2.machine_key, 'instance_id' as match_method, 1 as strength
    from arc
    join intermediate.int_aws__ec2_instances as ec2
        on ec2.instance_id = arc.aws_instance_id
        and (arc.aws_account_id is null or ec2.scope_id = arc.aws_account_id)
),

-- Equality joins only (hash joins): an OR across them would compare every Arc row with every GCP row.
by_gcp_instance_id as (
    select arc.resource_id, gcp.machine_key, 'instance_id' as match_method, 1 as strength
    from arc
    join intermediate.int_gcp__compute_instances as gcp on gcp.instance_id = arc.gcp_machine_id
    union
    select arc.resource_id, gcp.machine_key, 'instance_id', 1
    from arc
    join intermediate.int_gcp__compute_instances as gcp
        on gcp.machine_name = arc.gcp_instance_name and gcp.scope_id = arc.gcp_project_id
    union
    select arc.resource_id, gcp.machine_key, 'instance_id', 1
    from arc
    join intermediate.int_gcp__compute_instances as gcp
        on gcp.machine_name = arc.gcp_instance_name and gcp.project_number = arc.gcp_project_id
),

by_hostname as (
    select arc.resource_id, m.machine_key, 'hostname' as match_method, 3 as strength
    from arc
    join (
        select machine_key, short_host_name, 'aws' as cloud from intermediate.int_aws__ec2_instances
        union all
        select machine_key, short_host_name, 'gcp' as cloud from intermediate.int_gcp__compute_instances
    ) as m
        on m.short_host_name = arc.short_host_name and m.cloud = arc.cloud_provider
    where arc.short_host_name <> ''
),

candidates as (
    select * from by_aws_instance_id
    union all
    select * from by_gcp_instance_id
    union all
    select * from by_hostname
)

select resource_id as arc_resource_id, machine_key, match_method
from candidates
-- A host name that matches several machines is no match at all: ambiguity must not merge machines.
qualify row_number() over (partition by resource_id order by strength) = 1
    and count(*) over (partition by resource_id, strength) = 1
