-- Extensions of Azure VMs and Arc machines from Resource Graph, renamed and cast.
-- Grain: one row per (snapshot_date, extension resource_id), every retained snapshot.
select
    snapshot_date,
    resource_id as extension_id,
    machine_resource_id,
    name as extension_name,
    resource_type,
    subscription_id,
    publisher,
    extension_type,
    type_handler_version,
    provisioning_state,
    scope,
    run_id
from raw.azure__machine_extensions
