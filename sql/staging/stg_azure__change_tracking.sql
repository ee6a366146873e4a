-- Change Tracking and Inventory rows (ConfigurationData) from Log Analytics, renamed and cast.
-- Grain: one row per landed ConfigurationData row (software, Windows service or Linux daemon) per snapshot.
select
    snapshot_date,
    machine_resource_id,
    computer,
    config_data_type,
    software_name,
    software_type,
    publisher,
    current_version,
    svc_name,
    svc_display_name,
    svc_state,
    svc_startup_type,
    time_generated,
    scope as workspace_id,
    run_id
from raw.azure__change_tracking
