-- Billed hours per machine between two consecutive snapshots, estimated from what a nightly batch can see:
-- the billed power state at each end and the clouds' own timestamps inside the interval (EC2 LaunchTime and
-- state-transition time, GCP lastStartTimestamp/lastStopTimestamp, creation times). Every estimate has a low
-- and a high bound; when the timestamps pin the hours down both are equal ("exact"), otherwise the central
-- estimate is the midpoint ("bounded"). A machine stopped at both ends with no start inside is taken as off.
-- Only the nights whose intervals the lake does not hold yet are computed here (int_license_nights): the
-- build saves them to lake/derived/license_intervals and int_license_intervals reads the earlier ones
-- back, so a nightly build prices one night, not the month.
-- night by night: intermediate.int_license_nights (the build runs it once per night, see transforms/build.py)
-- Grain: one row per (machine_key, snapshot_date), snapshot_date being the interval's closing night.
with to_compute as (
    select * from intermediate.int_license_nights
    where snapshot_date = coalesce(getvariable('computing_night'), snapshot_date)
),

-- Each machine seen at either end of an interval: its row at the closing night and at the opening night,
-- paired by one aggregate (a full outer join would have to hold both sides in memory, which a catch-up of
-- a month of nights at scale cannot).
ends as (
    select h.machine_key, i.snapshot_date, true as is_closing, h.is_billed_state, h.last_started_at,
        h.last_stopped_at, h.created_at, h.cloud, h.scope_id, h.owner, h.plan_status, h.edr_status,
        h.power_state, h.third_party_edr_only, h.edr_products
    from marts.machine_history as h
    join to_compute as i using (snapshot_date)

    union all

    select h.machine_key, i.snapshot_date, false, h.is_billed_state, h.last_started_at, h.last_stopped_at,
        h.created_at, h.cloud, h.scope_id, h.owner, h.plan_status, h.edr_status, h.power_state,
        h.third_party_edr_only, h.edr_products
    from marts.machine_history as h
    join to_compute as i on i.prev_date = h.snapshot_date
),

pairs as (
    select
        machine_key,
        snapshot_date,
        first(is_billed_state) filter (where not is_closing) as was_on,
        first(is_billed_state) filter (where is_closing) as is_on,
        coalesce(first(last_started_at) filter (where is_closing),
                 first(last_started_at) filter (where not is_closing)) as started,
        coalesce(first(last_stopped_at) filter (where is_closing),
                 first(last_stopped_at) filter (where not is_closing)) as stopped,
        coalesce(first(created_at) filter (where is_closing), first(created_at) filter (where not is_closing)) as created,
        coalesce(first(cloud) filter (where is_closing), first(cloud) filter (where not is_closing)) as cloud,
        coalesce(first(scope_id) filter (where is_closing), first(scope_id) filter (where not is_closing)) as scope_id,
        coalesce(first(owner) filter (where is_closing), first(owner) filter (where not is_closing)) as owner,
        coalesce(first(plan_status) filter (where is_closing),
                 first(plan_status) filter (where not is_closing)) as plan_status,
        coalesce(first(edr_status) filter (where is_closing),
                 first(edr_status) filter (where not is_closing)) as edr_status,
        coalesce(first(power_state) filter (where is_closing), 'gone') as power_state,
        coalesce(first(third_party_edr_only) filter (where is_closing),
                 first(third_party_edr_only) filter (where not is_closing)) as third_party_edr_only,
        -- The products at the closing night only: a machine gone by then protects nothing that night.
        first(edr_products) filter (where is_closing) as edr_products
    from ends
    group by machine_key, snapshot_date
),

timed as (
    select p.*, i.t0, i.t1,
        date_diff('second', i.t0, i.t1) / 3600.0 as span,
        p.started > i.t0 and p.started <= i.t1 as start_in,
        p.stopped > i.t0 and p.stopped <= i.t1 as stop_in,
        p.created > i.t0 and p.created <= i.t1 as created_in
    from pairs as p
    join to_compute as i using (snapshot_date)
),

hours as (
    select *,
        -- when the machine began inside the interval (created or started), by its own timestamps
        greatest(case when created_in then created end, case when start_in then started end) as began
    from timed
),

bounds as (
    select *,
        case
            when was_on and is_on then case
                when start_in and stop_in and stopped < started
                    then date_diff('second', t0, stopped) / 3600.0 + date_diff('second', started, t1) / 3600.0
                when start_in then date_diff('second', started, t1) / 3600.0
                else span end
            when was_on and not is_on then case when stop_in then date_diff('second', t0, stopped) / 3600.0 else 0 end
            when not was_on and is_on then case when start_in then date_diff('second', started, t1) / 3600.0 else 0 end
            when not was_on and not is_on then case
                when start_in and stop_in and started < stopped then date_diff('second', started, stopped) / 3600.0
                else 0 end
            when was_on is null and is_on then case
                when began is not null then date_diff('second', began, t1) / 3600.0
                when coalesce(started, created) <= t0 then span
                else 0 end
            when was_on is null and not is_on then case
                when began is not null and stop_in and began < stopped then date_diff('second', began, stopped) / 3600.0
                else 0 end
            when was_on and is_on is null then case when stop_in then date_diff('second', t0, stopped) / 3600.0 else 0 end
            else 0
        end as low_hours,
        case
            when was_on and is_on then span
            when was_on and not is_on then case when stop_in then date_diff('second', t0, stopped) / 3600.0 else span end
            when not was_on and is_on then case when start_in then date_diff('second', started, t1) / 3600.0 else span end
            when not was_on and not is_on then case
                when start_in and stop_in and started < stopped then date_diff('second', started, stopped) / 3600.0
                else 0 end
            when was_on is null and is_on then case
                when began is not null then date_diff('second', began, t1) / 3600.0
                else span end
            when was_on is null and not is_on then case
                when began is not null and stop_in and began < stopped then date_diff('second', began, stopped) / 3600.0
                else 0 end
            when was_on and is_on is null then case when stop_in then date_diff('second', t0, stopped) / 3600.0 else span end
            else 0
        end as high_hours
    from hours
)

select
    machine_key, snapshot_date, t0 as interval_start, t1 as interval_end, span as interval_hours,
    cloud, scope_id, owner, plan_status, edr_status, power_state, third_party_edr_only, edr_products,
    least(greatest(low_hours, 0), span) as running_hours_low,
    least(greatest(high_hours, 0), span) as running_hours_high
from bounds
