-- Open recommendations, Defender for Cloud style: one per machine that lacks a working EDR (with the exact
-- Defender recommendation name per cloud), or whose evidence could not be read (edrcov's own), with the
-- remediation Defender would offer and concrete console and CLI steps for that cloud and OS.
-- Grain: one row per (machine_key, recommendation_id). Deleted machines get none.
with open_machines as (
    select *
    from marts.machine_edr_status
    where edr_status in ('not_installed', 'unhealthy', 'unknown') and power_state <> 'deleted'
),

with_recommendation as (
    select m.*, r.recommendation_id, r.recommendation, r.severity, r.source as recommendation_source,
        case
            when m.edr_status = 'unhealthy' then 'Troubleshoot onboarding'
            when m.edr_status = 'unknown' and m.status_reason = 'source_failed' then 'Restore source access'
            when m.edr_status = 'unknown' then 'Enable inventory collection'
            when m.plan_status = 'p2' then 'Enable Microsoft Defender for Endpoint integration'
            else 'Upgrade Defender plan'
        end as remediation_action
    from open_machines as m
    join seeds.recommendations as r
        on r.cloud = m.cloud and r.edr_status = m.edr_status
        and coalesce(r.status_reason, '') = case
            when m.edr_status = 'unknown' and m.status_reason = 'source_failed' then 'source_failed' else ''
        end
),

steps as (
    select w.machine_key, w.recommendation_id, s.console_path, s.cli_command
    from with_recommendation as w
    join seeds.remediation_steps as s
        on s.remediation_action = w.remediation_action and s.cloud = w.cloud
        and s.os_family in (w.os_family, 'any')
    qualify row_number() over (
        partition by w.machine_key, w.recommendation_id order by (s.os_family = 'any'), s._row
    ) = 1
)

select
    w.machine_key,
    w.cloud,
    w.scope_id,
    w.machine_name,
    w.os_family,
    w.power_state,
    w.owner,
    w.recommendation_id,
    w.recommendation,
    w.severity,
    w.recommendation_source,
    w.edr_status,
    w.status_reason,
    w.plan_status,
    w.remediation_action,
    -- Placeholders in the steps seed are filled with this machine's identifiers.
    replace(replace(replace(replace(
        'Console: ' || s.console_path || chr(10) || 'CLI: ' || s.cli_command,
        '{scope_id}', w.scope_id), '{native_id}', w.native_id), '{machine_name}', w.machine_name),
        '{region}', coalesce(w.region, '')) as remediation_steps,
    w.snapshot_date
from with_recommendation as w
left join steps as s using (machine_key, recommendation_id)
