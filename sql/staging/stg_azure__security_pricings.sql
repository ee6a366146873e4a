-- Defender for Cloud pricings (plans) from Resource Graph securityresources, renamed and cast.
-- Grain: one row per (snapshot_date, pricing resource_id); scope_resource_id is a subscription or a resource.
select
    snapshot_date,
    resource_id as pricing_id,
    name as pricing_name,
    subscription_id,
    scope_resource_id,
    pricing_tier,
    sub_plan,
    enablement_time,
    cast(extensions_json as json) as plan_extensions,
    scope,
    run_id
from raw.azure__security_pricings
