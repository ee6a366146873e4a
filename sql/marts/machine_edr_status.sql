-- The EDR verdict per machine with the evidence behind it, its Defender for Servers plan and exemption
-- (decided in int_machine_status, which says how).
-- Grain: one row per machine_key.
-- materialized: view (a projection of int_machine_status: a second million-row copy would only cost build
-- time and disk)
select
    machine_key,
    cloud,
    resource_kind,
    scope_id,
    machine_name,
    os_family,
    os_name,
    power_state,
    is_running,
    owner,
    region,
    native_id,
    edr_status,
    status_reason,
    edr_products,
    third_party_edr_only,
    evidence_source,
    rule_id,
    observed_at,
    inventory_source,
    inventory_observed_at,
    inventory_fresh,
    plan_status,
    plan_source,
    exemption_reason,
    exemption_expires,
    exemption_active,
    match_method,
    snapshot_date
from intermediate.int_machine_status
