-- GCP OS Config inventories from Cloud Asset (content type OS_INVENTORY), renamed and cast.
-- Grain: one row per (snapshot_date, asset_name); the packages stay nested (see stg_gcp__os_inventory_packages).
select
    snapshot_date,
    asset_name,
    project_id,
    zone,
    instance_name as machine_name,
    os_hostname,
    os_long_name,
    os_short_name,
    os_version,
    osconfig_agent_version,
    inventory_update_time,
    len(packages) as package_count,
    scope,
    run_id
from raw.gcp__os_inventories
