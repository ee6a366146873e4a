-- Installed packages of GCP OS Config inventories, flattened from the nested list.
-- Grain: one row per (snapshot_date, asset_name, inventory item_id).
-- (unnest in the select list, not a lateral join: DuckDB then streams the list instead of planning a
-- correlated join back to the inventory rows.)
select
    snapshot_date,
    asset_name,
    project_id,
    inventory_update_time,
    pkg.item_id,
    pkg.kind as package_kind,
    pkg.name as package_name,
    pkg.version as package_version,
    pkg.publisher,
    scope,
    run_id
from (
    select snapshot_date, asset_name, project_id, inventory_update_time, scope, run_id, unnest(packages) as pkg
    from raw.gcp__os_inventories
)
