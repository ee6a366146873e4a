-- The distinct inventory values (extension types, software names, service names) the EDR catalogue
-- recognises, with the rule that recognises each. Matching distinct values rather than inventory rows
-- makes the catalogue's cost grow with the variety of software, not with the size of the estate, and
-- lets prefix and contains rules scan a few thousand values instead of tens of millions of rows. A table,
-- so that the planner knows how small it is when int_edr_evidence joins the inventory to it.
-- Grain: one row per (evidence_kind, matched_value, rule_id).
with distinct_values as (
    select 'software' as evidence_kind, software_name as matched_value
    from intermediate.int_software_observations
    union
    select 'service', service_name from intermediate.int_service_observations
    union
    select 'service', service_display_name from intermediate.int_service_observations
    union
    select 'extension', publisher || '/' || extension_type
    from staging.stg_azure__machine_extensions
    where snapshot_date = getvariable('snapshot_date')
)

select v.evidence_kind, v.matched_value, r.rule_id, r.product_id, r.product_name, r.platform
from distinct_values as v
join intermediate.int_edr_catalogue as r
    on r.evidence_kind = v.evidence_kind
    and (
        (r.match_type = 'exact' and r.pattern_lc = lower(v.matched_value))
        or (r.match_type = 'prefix' and starts_with(lower(v.matched_value), r.pattern_lc))
        or (r.match_type = 'contains' and contains(lower(v.matched_value), r.pattern_lc))
    )
where v.matched_value is not null
