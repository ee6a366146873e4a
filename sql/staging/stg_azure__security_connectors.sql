-- Defender for Cloud multicloud security connectors (AWS accounts, GCP projects), renamed and cast.
-- Grain: one row per (snapshot_date, connector resource_id).
select
    snapshot_date,
    resource_id as connector_id,
    name as connector_name,
    subscription_id,
    lower(environment_name) as environment,
    hierarchy_identifier,
    servers_offering_type,
    servers_sub_plan,
    cast(offerings_json as json) as offerings,
    scope,
    run_id
from raw.azure__security_connectors
