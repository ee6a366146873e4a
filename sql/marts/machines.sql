-- Every server of the estate at the snapshot, across Azure (VMs and Arc), AWS and GCP, counted once.
-- Grain: one row per machine_key.
-- materialized: view (a projection of int_machine_status, which carries the attributes with the verdict: a
-- second million-row copy would only cost build time and disk)
select
    machine_key,
    cloud,
    resource_kind,
    scope_id,
    machine_name,
    host_name,
    native_id,
    region,
    os_family,
    os_supported,
    os_name,
    power_state,
    provider_power_state,
    is_running,
    owner,
    cast(tags as varchar) as tags_json,
    arc_resource_ids,
    match_method,
    created_at,
    last_started_at,
    last_stopped_at,
    carried_from,
    snapshot_date
from intermediate.int_machine_status
