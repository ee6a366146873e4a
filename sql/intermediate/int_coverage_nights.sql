-- Coverage per night, cloud, scope and OS family: the verdict counts over running machines and the coverage
-- percentage (protected / (running - exempt - not_applicable)), computed when read for the nights asked for:
-- marts.coverage_daily reads tonight's, int_coverage_daily_rebuilt the retained ones when no saved trend
-- can be carried.
-- Grain: one row per (snapshot_date, cloud, scope_id, os_family).
-- materialized: view (filtered on snapshot_date by its readers, which the filter prunes to those nights)
select
    snapshot_date,
    cloud,
    scope_id,
    os_family,
    count(*) as machines,
    count(*) filter (where power_state = 'running') as running_machines,
    count(*) filter (where power_state = 'running' and edr_status = 'protected') as protected,
    count(*) filter (where power_state = 'running' and edr_status = 'unhealthy') as unhealthy,
    count(*) filter (where power_state = 'running' and edr_status = 'not_installed') as not_installed,
    count(*) filter (where power_state = 'running' and edr_status = 'unknown') as unknown,
    count(*) filter (where power_state = 'running' and edr_status = 'exempt') as exempt,
    count(*) filter (where power_state = 'running' and edr_status = 'not_applicable') as not_applicable,
    round(100.0 * count(*) filter (where power_state = 'running' and edr_status = 'protected')
        / nullif(count(*) filter (where power_state = 'running'
                                  and edr_status not in ('exempt', 'not_applicable')), 0), 2) as coverage_pct
from marts.machine_history
group by all
