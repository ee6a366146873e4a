-- The facts of each machine at this snapshot that history is made of (power, plan, verdict, timestamps).
-- After every build it is also saved to the lake (lake/derived/machine_snapshots) so later nights read the
-- past from there instead of recomputing it.
-- Grain: one row per (machine_key, snapshot_date).
-- materialized: view (a projection of int_machine_status and the snapshot's instant: read where it is
-- needed, never copied into the database)
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
    s.provider_power_state,
    s.is_billed_state,
    s.plan_status,
    s.edr_status,
    s.status_reason,
    s.edr_products,
    s.third_party_edr_only,
    s.exemption_expires,
    s.exemption_active,
    s.created_at,
    s.last_started_at,
    s.last_stopped_at
from intermediate.int_machine_status as s
cross join intermediate.int_snapshot_instant as i
