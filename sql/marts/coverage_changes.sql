-- What changed since the previous night: new machines, machines gone, newly unprotected (was protected or
-- exempt, now needs work), newly protected, and active exemptions expiring within 14 days.
-- Grain: one row per (change_type, machine_key).
with nights as (
    select max(snapshot_date) as current_night,
        max(snapshot_date) filter (where snapshot_date < (select max(snapshot_date) from marts.machine_history))
            as previous_night
    from marts.machine_history
),

cur as (select h.* from marts.machine_history as h, nights as n where h.snapshot_date = n.current_night),
prev as (select h.* from marts.machine_history as h, nights as n where h.snapshot_date = n.previous_night),

changes as (
    select 'new_machine' as change_type, c.machine_key, c.cloud, c.scope_id, c.machine_name, c.owner,
        null as previous_status, c.edr_status as current_status, 'first seen tonight' as detail
    from cur as c
    where (select previous_night from nights) is not null
        and not exists (select 1 from prev as p where p.machine_key = c.machine_key)
    union all
    select 'machine_gone', p.machine_key, p.cloud, p.scope_id, p.machine_name, p.owner,
        p.edr_status, null, 'not listed tonight'
    from prev as p
    where not exists (select 1 from cur as c where c.machine_key = p.machine_key)
    union all
    select 'newly_unprotected', c.machine_key, c.cloud, c.scope_id, c.machine_name, c.owner,
        p.edr_status, c.edr_status, c.status_reason
    from cur as c join prev as p using (machine_key)
    where p.edr_status in ('protected', 'exempt') and c.edr_status in ('not_installed', 'unhealthy')
    union all
    select 'newly_protected', c.machine_key, c.cloud, c.scope_id, c.machine_name, c.owner,
        p.edr_status, c.edr_status, c.edr_products
    from cur as c join prev as p using (machine_key)
    where p.edr_status <> 'protected' and c.edr_status = 'protected'
    union all
    select 'exemption_expiring', c.machine_key, c.cloud, c.scope_id, c.machine_name, c.owner,
        null, c.edr_status, 'exemption expires ' || cast(c.exemption_expires as varchar)
    from cur as c, nights as n
    where c.exemption_active and c.exemption_expires <= n.current_night + 14
)

select ch.*, n.previous_night, n.current_night as snapshot_date
from changes as ch, nights as n
