-- Azure Arc-enabled servers from Resource Graph (microsoft.hybridcompute/machines), renamed and cast.
-- Grain: one row per (snapshot_date, resource_id), every retained snapshot.
select
    snapshot_date,
    resource_id,
    name as machine_name,
    subscription_id,
    resource_group,
    location as region,
    cast(tags_json as json) as tags,
    vm_id,
    status as agent_status,
    os_type,
    os_name,
    os_version,
    os_sku,
    machine_fqdn,
    agent_version,
    last_status_change,
    cloud_provider,
    cast(detected_properties_json as json) as detected_properties,
    scope,
    run_id,
    extracted_at
from raw.azure__arc_machines
