-- Every piece of EDR evidence found for a machine, with the catalogue rule that recognised it and what
-- it says about health: extensions (provisioning state), installed software (present = installed),
-- services (running or not) and Defender for Cloud's own EDR assessments. Only fresh evidence decides a
-- verdict (is_fresh); stale evidence is kept for the analyst.
-- Grain: one row per (machine_key, evidence_source, rule_id, matched_value, via).
with machines as (
    select machine_key, os_family from intermediate.int_machines__unioned
),

rules as (
    select * from intermediate.int_edr_catalogue
),

extensions as (
    select id.machine_key, 'azure_extension' as evidence_source, 'extension' as evidence_kind,
        ext.publisher || '/' || ext.extension_type as matched_value,
        case ext.provisioning_state
            when 'Succeeded' then 'healthy' when 'Failed' then 'failed' else 'pending'
        end as health,
        'provisioningState ' || coalesce(ext.provisioning_state, 'missing') as health_detail,
        getvariable('as_of')::timestamptz as observed_at, id.via
    from staging.stg_azure__machine_extensions as ext
    join intermediate.int_machine_identities as id
        on id.id_kind = 'azure_resource_id' and id.id_value = ext.machine_resource_id
    where ext.snapshot_date = getvariable('snapshot_date')
),

software as (
    select machine_key, evidence_source, 'software' as evidence_kind, software_name as matched_value,
        'healthy' as health, 'installed' as health_detail, observed_at, via
    from intermediate.int_software_observations
),

-- A stopped service is a failed EDR only when it is meant to run: Windows Server 2019+ always lists the
-- built-in MDE service (Sense) stopped with Manual start until MDE is onboarded, which is no EDR at all.
services as (
    select machine_key, evidence_source, 'service' as evidence_kind,
        unnest([service_name, service_display_name]) as matched_value,
        case service_state when 'Running' then 'healthy' when 'Stopped' then 'failed' else 'pending' end as health,
        'service ' || coalesce(service_state, 'state unknown') || coalesce(' (' || start_type || ' start)', '')
            as health_detail, observed_at, via
    from intermediate.int_service_observations
    where not (service_state = 'Stopped' and lower(coalesce(start_type, '')) in ('manual', 'disabled'))
),

observations as (
    select * from extensions
    union all
    select * from software
    union all
    select * from services
),

-- Exact rules join on equality (a hash join, cheap at any scale); the few prefix/contains rules scan.
exact_matches as (
    select o.*, r.rule_id, r.product_id, r.product_name
    from observations as o
    join machines as m using (machine_key)
    join rules as r
        on r.match_type = 'exact' and r.evidence_kind = o.evidence_kind and r.platform = m.os_family
        and r.pattern_lc = lower(o.matched_value)
),

pattern_matches as (
    select o.*, r.rule_id, r.product_id, r.product_name
    from observations as o
    join machines as m using (machine_key)
    join rules as r
        on r.match_type in ('prefix', 'contains') and r.evidence_kind = o.evidence_kind
        and r.platform = m.os_family
        and (
            (r.match_type = 'prefix' and starts_with(lower(o.matched_value), r.pattern_lc))
            or (r.match_type = 'contains' and contains(lower(o.matched_value), r.pattern_lc))
        )
),

assessments as (
    select id.machine_key, 'defender_assessment' as evidence_source, 'assessment' as evidence_kind,
        a.display_name as matched_value,
        case when d.meaning = 'edr_installed' then 'healthy' else 'failed' end as health,
        'assessment ' || a.status_code as health_detail,
        coalesce(a.status_change_date, getvariable('as_of')::timestamptz) as observed_at, id.via,
        'defender.' || d.meaning || '.' || d.cloud as rule_id,
        'defender_reported' as product_id,
        'EDR reported by Defender for Cloud' as product_name
    from staging.stg_azure__security_assessments as a
    join seeds.defender_assessments as d on d.assessment_key = a.assessment_key
    -- Azure resources by id; EC2 instances through the connector entity id (.../aws-ec2-instance-<id>-<region>)
    join intermediate.int_machine_identities as id
        on id.id_value = case
            when a.assessed_resource_id like '%/securityentitydata/aws-ec2-instance-%'
                then regexp_extract(a.assessed_resource_id, 'aws-ec2-instance-(i-[0-9a-f]+)', 1)
            else a.assessed_resource_id
        end
        and id.id_kind = case
            when a.assessed_resource_id like '%/securityentitydata/aws-ec2-instance-%' then 'aws_instance_id'
            else 'azure_resource_id'
        end
    where a.snapshot_date = getvariable('snapshot_date')
        and ((d.meaning = 'edr_installed' and a.status_code = 'Healthy')
            or (d.meaning = 'edr_configuration' and a.status_code = 'Unhealthy'))
),

deduplicated as (
    select machine_key, evidence_source, evidence_kind, product_id, product_name, rule_id, matched_value, health,
        health_detail, max(observed_at) as observed_at, via
    from (
        select * from exact_matches
        union all by name
        select * from pattern_matches
        union all by name
        select * from assessments
    )
    group by all
)

select
    *,
    -- Extensions and Defender's assessments are current state; inventory evidence ages.
    evidence_kind in ('extension', 'assessment')
        or observed_at >= getvariable('as_of')::timestamptz
            - to_days(cast(getvariable('stale_after_days') as integer)) as is_fresh
from deduplicated
