-- Every piece of EDR evidence found per machine, with the catalogue rule that recognised it.
-- Grain: one row per (machine_key, evidence_source, rule_id, matched_value, via).
select
    e.machine_key,
    m.cloud,
    e.product_id,
    e.product_name,
    e.evidence_source,
    e.evidence_kind,
    e.rule_id,
    e.matched_value,
    e.health,
    e.health_detail,
    e.observed_at,
    e.via,
    e.is_fresh,
    m.snapshot_date
from intermediate.int_edr_evidence as e
join intermediate.int_machines__unioned as m using (machine_key)
