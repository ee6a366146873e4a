-- Every piece of EDR evidence found per machine, with the catalogue rule that recognised it: the public
-- face of int_edr_evidence, which already carries each machine's cloud and snapshot.
-- Grain: one row per (machine_key, evidence_source, rule_id, matched_value, via).
-- materialized: view (millions of rows at scale: a second copy would only cost build time and disk)
select
    machine_key,
    cloud,
    product_id,
    product_name,
    evidence_source,
    evidence_kind,
    rule_id,
    matched_value,
    health,
    health_detail,
    observed_at,
    via,
    is_fresh,
    snapshot_date
from intermediate.int_edr_evidence
