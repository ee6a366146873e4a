-- How long new machines stay without a working EDR: for every machine first seen after the first retained
-- night, the night it appeared, the first night it was protected (null while it still is not) and the
-- days in between. Machines present on the first retained night are left out: their start is unknown.
-- Grain: one row per machine_key.
with first_night as (
    select min(snapshot_date) as night from marts.machine_history
),

per_machine as (
    select machine_key,
        any_value(cloud) as cloud,
        any_value(scope_id) as scope_id,
        arg_max(machine_name, snapshot_date) as machine_name,
        arg_max(owner, snapshot_date) as owner,
        min(snapshot_date) as first_seen,
        min(snapshot_date) filter (where edr_status = 'protected') as first_protected,
        max(snapshot_date) as last_seen,
        bool_or(edr_status in ('exempt', 'not_applicable')) as ever_exempt_or_na
    from marts.machine_history
    group by machine_key
)

select
    p.machine_key, p.cloud, p.scope_id, p.machine_name, p.owner, p.first_seen, p.first_protected,
    date_diff('day', p.first_seen, p.first_protected) as days_to_protect,
    case when p.first_protected is null then date_diff('day', p.first_seen, p.last_seen) end as days_unprotected_so_far
from per_machine as p, first_night as f
where p.first_seen > f.night and not p.ever_exempt_or_na
