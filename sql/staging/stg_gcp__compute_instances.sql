-- GCP Compute Engine instances from Cloud Asset (content type RESOURCE), renamed and cast.
-- Grain: one row per (snapshot_date, asset_name).
select
    snapshot_date,
    asset_name,
    project_id,
    project_number,
    zone,
    instance_name as machine_name,
    instance_id,
    status,
    machine_type,
    hostname,
    private_ip_address,
    creation_timestamp,
    last_start_timestamp,
    last_stop_timestamp,
    boot_licenses,
    cast(labels_json as json) as labels,
    update_time,
    scope,
    run_id,
    extracted_at
from raw.gcp__compute_instances
