-- Each machine's history as intervals of unchanged EDR status and plan: when a status began, when it last
-- held, for how many nights. Built incrementally: the timeline saved by the previous night's build
-- (lake/derived/machine_timeline; recomputed from the retained history when there is none, see
-- int_machine_timeline_rebuilt) is carried forward by tonight's snapshot, so a nightly build touches one
-- row per machine, not every retained night. Islands that ended before the retention window are dropped;
-- one still open keeps the night it began even when that night has left the window.
-- Grain: one row per (machine_key, valid_from).
-- materialized: lake (built in memory; once saved to lake/derived/machine_timeline, a view over tonight's state)
with previous as (
    select machine_key, valid_from, valid_to, nights, cloud, scope_id, machine_name, edr_status, plan_status,
        status_reason, edr_products
    from derived.machine_timeline_past
    where valid_to >= coalesce(
        (select min(snapshot_date) from derived.saved_nights where dataset = 'machine_snapshots'),
        getvariable('snapshot_date'))
),

tonight as (
    select machine_key, snapshot_date, cloud, scope_id, machine_name, edr_status, plan_status, status_reason,
        edr_products
    from intermediate.int_machine_snapshot
),

eve as (
    select max(snapshot_date) as night from derived.saved_nights where dataset = 'machine_snapshots'
),

-- A machine's last island continues tonight when its status and plan are unchanged. It is the one still
-- open on the eve (no two islands of a machine overlap) or, for a machine not seen that night, its latest:
-- only those few machines need a window over their islands.
open_on_eve as (
    select p.* from previous as p, eve where p.valid_to = eve.night
),

last_islands as (
    select * from open_on_eve
    union all
    select * from (
        select p.* from previous as p anti join open_on_eve as o using (machine_key)
        qualify p.valid_from = max(p.valid_from) over (partition by p.machine_key)
    )
),

extended as (
    select l.machine_key, l.valid_from, t.snapshot_date as valid_to, l.nights + 1 as nights, l.cloud, l.scope_id,
        t.machine_name, l.edr_status, l.plan_status, t.status_reason, t.edr_products
    from last_islands as l
    join tonight as t using (machine_key)
    where t.edr_status is not distinct from l.edr_status and t.plan_status is not distinct from l.plan_status
),

islands as (
    select p.* from previous as p anti join extended as e using (machine_key, valid_from)
    union all
    select * from extended
    union all
    select t.machine_key, t.snapshot_date, t.snapshot_date, 1, t.cloud, t.scope_id, t.machine_name, t.edr_status,
        t.plan_status, t.status_reason, t.edr_products
    from tonight as t anti join extended as e using (machine_key)
)

select *, valid_to = getvariable('snapshot_date') as is_current
from islands
