-- Every machine of the snapshot with its inventory attributes and its EDR verdict, the evidence behind it,
-- its Defender for Servers plan and exemption: the one million-row machine table the build writes.
-- marts.machines, marts.machine_edr_status and int_machine_snapshot are projections of it (views), so the
-- attributes are written once, not three times (each copy cost 2-4 s at a million machines).
-- Order of decision: unsupported OS -> not_applicable; a healthy supported EDR -> protected; an active
-- exemption -> exempt; an EDR found but failed -> unhealthy; evidence unreadable (source failed, no or
-- stale inventory) -> unknown; otherwise, with fresh complete evidence and no EDR -> not_installed.
-- Grain: one row per machine_key.
with fresh_evidence as (
    -- rowid identifies the row within this build, so the decisive row is carried as one integer and its
    -- details fetched once at the end.
    select e.rowid as evidence_row, e.machine_key, e.product_id, e.product_name, e.health,
        -- The order that picks a decisive row, newest first then by rule id, packed into one integer so
        -- that picking is a plain arg_min (aggregates keyed on structs were the build's slowest step):
        -- bits 14..55 hold 2^42 - epoch milliseconds (a missing time sorts last), bits 0..13 the rule's rank.
        (((1::bigint << 42) - coalesce(epoch_ms(e.observed_at), 0)) << 14) | r.rule_rank as newest_first
    from intermediate.int_edr_evidence as e
    join (
        select rule_id, dense_rank() over (order by rule_id) as rule_rank
        from (select distinct rule_id from intermediate.int_edr_evidence)
    ) as r using (rule_id)
    where e.is_fresh
),

-- Per (machine, product): its health, and the rows that could explain the verdict. The decisive row of a
-- machine is a healthy row of a healthy product when there is one (protected), else a failed row
-- (unhealthy), else a pending one, newest first, then by rule id. Each product offers its best healthy
-- row and its best row overall under that order (failed rows first), so that the machine's choice below
-- is one more aggregate, not a window over every piece of evidence.
products as (
    select machine_key, product_id, any_value(product_name) as product_name,
        case
            when bool_or(health = 'failed') then 'failed'
            when bool_or(health = 'healthy') then 'healthy'
            else 'pending'
        end as product_health,
        bool_or(health = 'healthy') as has_healthy_row,
        arg_min(evidence_row, newest_first) filter (where health = 'healthy') as best_healthy_row,
        min(newest_first) filter (where health = 'healthy') as best_healthy_order,
        arg_min(evidence_row, ((health <> 'failed')::bigint << 57) | newest_first) as best_row,
        min(((health <> 'failed')::bigint << 57) | newest_first) & ((1::bigint << 57) - 1) as best_order
    from fresh_evidence
    group by all
),

product_summary as (
    select machine_key,
        bool_or(product_health = 'healthy') as has_healthy_edr,
        bool_or(product_health <> 'healthy') as has_failing_edr,
        array_to_string(list_sort(list(product_name) filter (where product_health = 'healthy')), ', ')
            as healthy_products,
        array_to_string(list_sort(list(product_name) filter (where product_health <> 'healthy')), ', ')
            as failing_products,
        -- Only a third-party product is healthy: Plan 2 pays for an MDE licence this machine does not use.
        -- (Defender's own "EDR installed" assessment does not say which product, so it proves neither.)
        bool_or(has_healthy_row and product_id not in ('mde', 'defender_reported'))
            and not bool_or(has_healthy_row and product_id = 'mde') as third_party_healthy_only,
        arg_min(
            case when product_health = 'healthy' then best_healthy_row else best_row end,
            (case product_health when 'healthy' then 0 when 'failed' then 1 else 2 end::bigint << 58)
                | case when product_health = 'healthy' then best_healthy_order else best_order end
        ) as decisive_row
    from products
    group by all
),

decisive_evidence as (
    select ps.*, e.evidence_source, e.rule_id, e.observed_at, e.health as decisive_health,
        e.evidence_kind as decisive_kind
    from product_summary as ps
    join intermediate.int_edr_evidence as e on e.rowid = ps.decisive_row
),

failed_scopes as (
    select distinct m.machine_key
    from intermediate.int_machines__unioned as m
    join intermediate.int_scope_failures as f
        -- A failed scope may be a wildcard ("123456789012/*": every region of an account; "*": all).
        on f.cloud = m.cloud
        and (m.extract_scope like replace(f.scope, '*', '%') or f.dataset = 'azure__change_tracking')
),

decided as (
    select
        m.*,
        de.has_healthy_edr,
        de.has_failing_edr,
        de.healthy_products,
        de.failing_products,
        de.third_party_healthy_only,
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
        de.decisive_health,
        de.decisive_kind
    from intermediate.int_machines__unioned as m
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
    d.host_name,
    d.native_id,
    d.region,
    d.os_family,
    d.os_supported,
    d.os_name,
    d.power_state,
    d.provider_power_state,
    d.is_running,
    d.is_billed_state,
    d.owner,
    d.tags,
    d.arc_resource_ids,
    d.created_at,
    d.last_started_at,
    d.last_stopped_at,
    d.carried_from,
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
    coalesce(d.has_healthy_edr and d.os_supported and d.third_party_healthy_only, false) as third_party_edr_only,
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
