-- The EDR catalogue (built-in seed plus any user-supplied rules), normalised for matching.
-- Grain: one row per rule_id.
select
    rule_id,
    product_id,
    product_name,
    vendor,
    platform,
    evidence_kind,
    match_type,
    pattern,
    lower(pattern) as pattern_lc,
    defender_supported,
    os_constraint
from seeds.edr_catalogue
