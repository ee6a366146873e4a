-- Azure virtual machines from Resource Graph (microsoft.compute/virtualmachines), renamed and cast.
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
    computer_name,
    os_type,
    os_name,
    os_version,
    image_publisher,
    image_offer,
    image_sku,
    power_state_code,
    provisioning_state,
    time_created,
    scope,
    run_id,
    extracted_at
from raw.azure__virtual_machines
