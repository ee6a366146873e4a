-- Every machine of the snapshot being built, across clouds, counted once: Azure VMs, EC2 instances,
-- GCP instances, and Arc-enabled servers that are not EC2/GCP VMs already listed (those are merged into
-- their cloud record, see int_arc_cloud_matches). Power states and OS families mapped to our vocabulary.
-- Grain: one row per machine_key.
-- materialized: working (read only by later models of the build; analysts see its attributes in
-- marts.machines, a projection of int_machine_status which carries them with the verdict)
with arc_unmatched as (
    select
        'azure:' || arc.resource_id as machine_key,
        'azure' as cloud,
        'azure_arc' as resource_kind,
        arc.subscription_id as scope_id,
        arc.subscription_id as extract_scope,
        arc.machine_name,
        arc.host_name,
        arc.resource_id as native_id,
        arc.region,
        arc.os_hint,
        arc.os_name,
        'azure_arc' as power_vocabulary,
        arc.agent_status as provider_power_state,
        arc.tags,
        cast(null as timestamptz) as created_at,
        cast(null as timestamptz) as last_started_at,
        cast(null as timestamptz) as last_stopped_at,
        arc.carried_from,
        arc.snapshot_date
    from intermediate.int_azure__arc_machines as arc
    anti join intermediate.int_arc_cloud_matches as m on m.arc_resource_id = arc.resource_id
),

unioned as (
    select machine_key, cloud, resource_kind, scope_id, extract_scope, machine_name, host_name, native_id,
        region, os_hint, os_name, power_vocabulary, provider_power_state, tags, created_at, last_started_at,
        last_stopped_at, carried_from, snapshot_date
    from intermediate.int_azure__virtual_machines
    union all by name
    select * from arc_unmatched
    union all by name
    select machine_key, cloud, resource_kind, scope_id, extract_scope, machine_name, host_name, native_id,
        region, os_hint, os_name, power_vocabulary, provider_power_state, tags, created_at, last_started_at,
        last_stopped_at, carried_from, snapshot_date
    from intermediate.int_aws__ec2_instances
    union all by name
    select machine_key, cloud, resource_kind, scope_id, extract_scope, machine_name, host_name, native_id,
        region, os_hint, os_name, power_vocabulary, provider_power_state, tags, created_at, last_started_at,
        last_stopped_at, carried_from, snapshot_date
    from intermediate.int_gcp__compute_instances
),

-- OS keywords match whole words of the hint, with '_' and '-' as separators too (image offers such as
-- 'fortinet_fortigate-vm_v5'); two-word keywords ('red hat') match adjacent words. Words and word pairs
-- are joined to the keywords by equality: a hash join, not a regular expression per machine and keyword.
-- Each distinct hint is matched once (an estate has a few hundred, however many machines share them).
words as (
    select os_hint, string_split_regex(os_hint, '[^a-z0-9]+') as w
    from (select distinct os_hint from unioned where os_hint is not null)
),

tokens as (
    select os_hint, unnest(w) as token from words
    union all
    select os_hint, unnest(list_transform(range(1, len(w)), lambda i: w[i] || ' ' || w[i + 1])) from words
),

os_matches as (
    select t.os_hint, f.os_family, f.os_supported
    from tokens as t
    join seeds.os_families as f on f.keyword = t.token
    qualify row_number() over (partition by t.os_hint order by f._row) = 1
),

arc_links as (
    select machine_key, string_agg(arc_resource_id, ',' order by arc_resource_id) as arc_resource_ids,
        min(match_method) as match_method
    from intermediate.int_arc_cloud_matches
    group by machine_key
)

select
    u.machine_key,
    u.cloud,
    u.resource_kind,
    u.scope_id,
    u.extract_scope,
    u.machine_name,
    u.host_name,
    u.native_id,
    u.region,
    coalesce(o.os_family, 'other') as os_family,
    coalesce(o.os_supported, false) as os_supported,
    u.os_name,
    coalesce(p.power_state, 'unknown') as power_state,
    u.provider_power_state,
    coalesce(p.power_state, 'unknown') = 'running' as is_running,
    -- Defender for Servers bills these states by the hour (its FAQ: Azure Running/Stopping/Stopped, Arc
    -- Connected); see sql/seeds/power_states.csv.
    coalesce(p.billed, false) as is_billed_state,
    coalesce(
        u.tags ->> 'owner', u.tags ->> 'Owner', u.tags ->> 'security-contact', u.tags ->> 'SecurityContact'
    ) as owner,
    u.tags,
    a.arc_resource_ids,
    coalesce(a.match_method, 'native') as match_method,
    u.created_at,
    u.last_started_at,
    u.last_stopped_at,
    u.carried_from,
    u.snapshot_date
from unioned as u
left join os_matches as o on o.os_hint = u.os_hint
left join seeds.power_states as p
    on p.cloud = u.power_vocabulary and p.provider_state = u.provider_power_state
left join arc_links as a using (machine_key)
