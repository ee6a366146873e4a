-- The EDR verdict per machine with the evidence behind it, its Defender for Servers plan and exemption.
-- Order of decision: unsupported OS -> not_applicable; a healthy supported EDR -> protected; an active
-- exemption -> exempt; an EDR found but failed -> unhealthy; evidence unreadable (source failed, no or
-- stale inventory) -> unknown; otherwise, with fresh complete evidence and no EDR -> not_installed.
-- Grain: one row per machine_key.
with machines as (
    select * from intermediate.int_machines__unioned
),

fresh_evidence as (
    select * from intermediate.int_edr_evidence where is_fresh
),

-- Per (machine, product): its health, and the rows that could explain the verdict. The decisive row
-- of a machine is a healthy row of a healthy product when there is one (protected), else a failed row
-- (unhealthy), newest first, then by rule id. Each product offers its best healthy row and its best row
-- overall under that order, so that the machine's choice below is one more aggregate, not a window
-- over every piece of evidence.
products as (
    select machine_key, product_id, any_value(product_name) as product_name,
        case
            when bool_or(health = 'failed') then 'failed'
            when bool_or(health = 'healthy') then 'healthy'
            else 'pending'
        end as product_health,
        arg_min(
            {'evidence_source': evidence_source, 'rule_id': rule_id, 'observed_at': observed_at,
             'health': health, 'evidence_kind': evidence_kind},
            {'newest': coalesce(-epoch_us(observed_at), 9223372036854775807), 'rule_id': rule_id}
        ) filter (where health = 'healthy') as best_healthy_row,
        arg_min(
            {'evidence_source': evidence_source, 'rule_id': rule_id, 'observed_at': observed_at,
             'health': health, 'evidence_kind': evidence_kind},
            {'failed_first': health <> 'failed', 'newest': coalesce(-epoch_us(observed_at), 9223372036854775807),
             'rule_id': rule_id}
        ) as best_row
    from fresh_evidence
    group by all
),

product_candidates as (
    select *, case when product_health = 'healthy' then best_healthy_row else best_row end as candidate
    from products
),

product_summary as (
    select machine_key,
        bool_or(product_health = 'healthy') as has_healthy_edr,
        bool_or(product_health <> 'healthy') as has_failing_edr,
        array_to_string(list_sort(list(product_name) filter (where product_health = 'healthy')), ', ')
            as healthy_products,
        array_to_string(list_sort(list(product_name) filter (where product_health <> 'healthy')), ', ')
            as failing_products,
        arg_min(candidate, {
            'rank': case when product_health = 'healthy' then 0 when candidate.health = 'failed' then 1 else 2 end,
            'newest': coalesce(-epoch_us(candidate.observed_at), 9223372036854775807),
            'rule_id': candidate.rule_id
        }) as decisive
    from product_candidates
    group by all
),

decisive_evidence as (
    select machine_key, decisive.evidence_source, decisive.rule_id, decisive.observed_at, decisive.health,
        decisive.evidence_kind
    from product_summary
),

failed_scopes as (
    select distinct m.machine_key
    from machines as m
    join intermediate.int_scope_failures as f
        -- A failed scope may be a wildcard ("123456789012/*": every region of an account; "*": all).
        on f.cloud = m.cloud
        and (m.extract_scope like replace(f.scope, '*', '%') or f.dataset = 'azure__change_tracking')
),

decided as (
    select
        m.*,
        ps.has_healthy_edr,
        ps.has_failing_edr,
        ps.healthy_products,
        ps.failing_products,
        inv.inventory_fresh,
        inv.inventory_gap,
        inv.inventory_source,
        inv.inventory_observed_at,
        ex.exemption_reason,
        ex.exemption_expires,
        coalesce(ex.exemption_active, false) as exemption_active,
        fs.machine_key is not null as source_failed,
        de.evidence_source,
        de.rule_id,
        de.observed_at,
        de.health as decisive_health,
        de.evidence_kind as decisive_kind
    from machines as m
    left join product_summary as ps using (machine_key)
    left join intermediate.int_machine_inventory as inv using (machine_key)
    left join intermediate.int_machine_exemptions as ex using (machine_key)
    left join failed_scopes as fs using (machine_key)
    left join decisive_evidence as de using (machine_key)
)

select
    d.machine_key,
    d.cloud,
    d.resource_kind,
    d.scope_id,
    d.machine_name,
    d.os_family,
    d.os_name,
    d.power_state,
    d.is_running,
    d.owner,
    d.region,
    d.native_id,
    case
        when not d.os_supported then 'not_applicable'
        when coalesce(d.has_healthy_edr, false) then 'protected'
        when d.exemption_active then 'exempt'
        when coalesce(d.has_failing_edr, false) then 'unhealthy'
        when d.source_failed then 'unknown'
        when d.inventory_fresh then 'not_installed'
        else 'unknown'
    end as edr_status,
    case
        when not d.os_supported then 'unsupported_os'
        when coalesce(d.has_healthy_edr, false) then 'healthy_' || d.decisive_kind || '_evidence'
        when d.exemption_active then coalesce('exempt_until_' || cast(d.exemption_expires as varchar), 'exempt_no_expiry')
        when coalesce(d.has_failing_edr, false) then
            case d.decisive_kind
                when 'extension' then 'extension_' || d.decisive_health
                when 'service' then 'service_not_running'
                else 'defender_reports_configuration_issues'
            end
        when d.source_failed then 'source_failed'
        when d.inventory_fresh then 'no_edr_in_fresh_inventory'
        else coalesce(d.inventory_gap, 'no_inventory')
    end as status_reason,
    coalesce(d.healthy_products, d.failing_products) as edr_products,
    d.evidence_source,
    d.rule_id,
    d.observed_at,
    d.inventory_source,
    d.inventory_observed_at,
    coalesce(d.inventory_fresh, false) as inventory_fresh,
    p.plan_status,
    p.plan_source,
    d.exemption_reason,
    d.exemption_expires,
    d.exemption_active,
    d.match_method,
    d.snapshot_date
from decided as d
join intermediate.int_machine_plans as p using (machine_key)
