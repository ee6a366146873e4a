-- How long new machines stay without a working EDR: for every machine first seen after the first retained
-- night, the night it appeared, the first night it was protected (null while it still is not) and the
-- days in between. Machines present on the first retained night are left out: their start is unknown.
-- Grain: one row per machine_key.
-- Read from the timeline (a few islands per machine, carried from night to night) rather than from every
-- retained night of machine_history, so a nightly build does not grow with the history; only the owner,
-- which the timeline does not keep, is looked up on the night each new machine was last seen.
with first_night as (
    select min(snapshot_date) as night from marts.machine_history
),

per_machine as (
    select machine_key,
        any_value(cloud) as cloud,
        any_value(scope_id) as scope_id,
        arg_max(machine_name, valid_to) as machine_name,
        min(valid_from) as first_seen,
        min(valid_from) filter (where edr_status = 'protected') as first_protected,
        max(valid_to) as last_seen,
        bool_or(edr_status in ('exempt', 'not_applicable')) as ever_exempt_or_na
    from marts.machine_timeline
    group by machine_key
),

new_machines as (
    select p.*
    from per_machine as p, first_night as f
    where p.first_seen > f.night and not p.ever_exempt_or_na
),

owners as (
    select n.machine_key, h.owner
    from new_machines as n
    join marts.machine_history as h on h.machine_key = n.machine_key and h.snapshot_date = n.last_seen
)

select
    n.machine_key, n.cloud, n.scope_id, n.machine_name, o.owner, n.first_seen, n.first_protected,
    date_diff('day', n.first_seen, n.first_protected) as days_to_protect,
    case when n.first_protected is null then date_diff('day', n.first_seen, n.last_seen) end as days_unprotected_so_far
from new_machines as n
left join owners as o using (machine_key)
