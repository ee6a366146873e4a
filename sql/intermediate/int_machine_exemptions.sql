-- Exemptions from the EDR requirement, by tag/label on the machine or by the exemptions file, with the
-- reason and expiry. An expired exemption is kept (so reports can say so) but is not active.
-- Grain: one row per exempted machine_key (the file wins over a tag when both exist).
-- materialized: working (read only by later models of the build: kept in memory, not in the database file)
with by_tag as (
    select machine_key,
        tags ->> getvariable('exempt_tag') as reason,
        try_cast(tags ->> getvariable('exempt_until_tag') as date) as expires,
        2 as precedence
    from intermediate.int_machines__unioned
    where tags ->> getvariable('exempt_tag') is not null
),

by_file as (
    select m.machine_key, e.reason, e.expires, 1 as precedence
    from intermediate.int_machines__unioned as m
    join config.exemptions as e
        on lower(e.machine) in (lower(m.native_id), lower(m.machine_name), lower(m.machine_key))
)

select
    machine_key,
    reason as exemption_reason,
    expires as exemption_expires,
    expires is null or expires >= getvariable('snapshot_date') as exemption_active
from (select * from by_tag union all select * from by_file)
qualify row_number() over (partition by machine_key order by precedence) = 1
