-- The facts of each machine at this snapshot that history is made of (power, plan, verdict, timestamps).
-- After every build it is also saved to the lake (lake/derived/machine_snapshots) so later nights read the
-- past from there instead of recomputing it.
-- Grain: one row per (machine_key, snapshot_date).
select
    s.machine_key,
    s.snapshot_date,
    i.snapshot_at,
    s.cloud,
    s.resource_kind,
    s.scope_id,
    s.machine_name,
    s.owner,
    s.os_family,
    s.power_state,
    m.provider_power_state,
    m.is_billed_state,
    s.plan_status,
    s.edr_status,
    s.status_reason,
    s.edr_products,
    s.third_party_edr_only,
    s.exemption_expires,
    s.exemption_active,
    m.created_at,
    m.last_started_at,
    m.last_stopped_at
from marts.machine_edr_status as s
join intermediate.int_machines__unioned as m using (machine_key)
cross join intermediate.int_snapshot_instant as i
