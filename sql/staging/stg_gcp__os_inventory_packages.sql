-- Installed packages of GCP OS Config inventories, flattened from the nested list.
-- Grain: one row per (snapshot_date, asset_name, inventory item_id).
select
    inv.snapshot_date,
    inv.asset_name,
    inv.project_id,
    inv.inventory_update_time,
    pkg.item_id,
    pkg.kind as package_kind,
    pkg.name as package_name,
    pkg.version as package_version,
    pkg.publisher,
    inv.scope,
    inv.run_id
from raw.gcp__os_inventories as inv,
    unnest(inv.packages) as p(pkg)
