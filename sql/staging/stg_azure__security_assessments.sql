-- Defender for Cloud assessments from Resource Graph securityresources, renamed and cast.
-- Grain: one row per (snapshot_date, assessment resource_id).
select
    snapshot_date,
    resource_id as assessment_id,
    assessment_key,
    subscription_id,
    assessed_resource_id,
    resource_source,
    display_name,
    status_code,
    status_cause,
    status_description,
    status_change_date,
    scope,
    run_id
from raw.azure__security_assessments
