-- Every piece of EDR evidence found for a machine, with the catalogue rule that recognised it and what
-- it says about health: extensions (provisioning state), installed software (present = installed),
-- services (running or not) and Defender for Cloud's own EDR assessments. Only fresh evidence decides a
-- verdict (is_fresh); stale evidence is kept for the analyst.
-- Plan at scale: inventories hold tens of millions of rows at a million machines, of which a few percent
-- are EDR. The catalogue is matched against the distinct inventory values first (int_edr_catalogue_values),
-- the inventory is then streamed once through a hash join on the matching values, and only the rows that
-- matched are described, resolved to machines (a join on long resource ids) and deduplicated.
-- Grain: one row per (machine_key, evidence_source, rule_id, matched_value, via).
with extensions as (
    select 'azure_resource_id' as id_kind, machine_resource_id as id_value, 'azure_extension' as evidence_source,
        'extension' as evidence_kind, publisher || '/' || extension_type as matched_value,
        provisioning_state as state, null::varchar as start_type,
        getvariable('as_of')::timestamptz as observed_at
    from staging.stg_azure__machine_extensions
    where snapshot_date = getvariable('snapshot_date')
),

observations as (
    select * from extensions
    union all
    select id_kind, id_value, evidence_source, 'software', software_name, null, null, observed_at
    from intermediate.int_software_observations
    union all
    select id_kind, id_value, evidence_source, 'service', unnest([service_name, service_display_name]),
        service_state, start_type, observed_at
    from intermediate.int_service_observations
),

matched as (
    select o.*, vr.rule_id, vr.product_id, vr.product_name, vr.platform
    from observations as o
    join intermediate.int_edr_catalogue_values as vr using (evidence_kind, matched_value)
),

described as (
    select *,
        case evidence_kind
            when 'extension' then case state when 'Succeeded' then 'healthy' when 'Failed' then 'failed' else 'pending' end
            when 'service' then case state when 'Running' then 'healthy' when 'Stopped' then 'failed' else 'pending' end
            else 'healthy'
        end as health,
        case evidence_kind
            when 'extension' then 'provisioningState ' || coalesce(state, 'missing')
            when 'service' then 'service ' || coalesce(state, 'state unknown') || coalesce(' (' || start_type || ' start)', '')
            else 'installed'
        end as health_detail
    from matched
    -- A stopped service is a failed EDR only when it is meant to run: Windows Server 2019+ always lists the
    -- built-in MDE service (Sense) stopped with Manual start until MDE is onboarded, which is no EDR at all.
    where not (evidence_kind = 'service' and state = 'Stopped'
        and lower(coalesce(start_type, '')) in ('manual', 'disabled'))
),

-- Rules are per platform: an observation counts only on a machine of the rule's OS family.
catalogue_matches as (
    select id.machine_key, id.cloud, d.evidence_source, d.evidence_kind, d.matched_value, d.health, d.health_detail,
        d.observed_at, id.via, d.rule_id, d.product_id, d.product_name
    from described as d
    join intermediate.int_machine_identities as id
        on id.id_kind = d.id_kind and id.id_value = d.id_value and id.os_family = d.platform
),

assessments as (
    select id.machine_key, id.cloud, 'defender_assessment' as evidence_source, 'assessment' as evidence_kind,
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

-- Grouped on the grain and the health it reports; the rest follows from those (cloud from the machine,
-- kind and product from the rule, health from its detail), so it is carried, not hashed.
deduplicated as (
    select machine_key, any_value(cloud) as cloud, evidence_source, any_value(evidence_kind) as evidence_kind,
        any_value(product_id) as product_id, any_value(product_name) as product_name, rule_id, matched_value,
        any_value(health) as health, health_detail, max(observed_at) as observed_at, via,
        getvariable('snapshot_date')::date as snapshot_date
    from (
        select * from catalogue_matches
        union all by name
        select * from assessments
    )
    group by machine_key, evidence_source, rule_id, matched_value, health_detail, via
)

select
    *,
    -- Extensions and Defender's assessments are current state; inventory evidence ages.
    evidence_kind in ('extension', 'assessment')
        or observed_at >= getvariable('as_of')::timestamptz
            - to_days(cast(getvariable('stale_after_days') as integer)) as is_fresh
from deduplicated
