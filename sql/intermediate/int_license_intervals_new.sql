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
-- materialized: lake (built in memory; once saved to lake/derived/license_intervals, a view over those nights)
with to_compute as (
    select * from intermediate.int_license_nights
    where snapshot_date = coalesce(getvariable('computing_night'), snapshot_date)
),

-- Each machine seen at either end of an interval: its row at the closing night beside its row at the
-- opening night (one night is computed at a time, so each side holds one night of machines).
closing as (
    select h.* from marts.machine_history as h join to_compute as i using (snapshot_date)
),

opening as (
    select h.* exclude (snapshot_date), i.snapshot_date
    from marts.machine_history as h
    join to_compute as i on i.prev_date = h.snapshot_date
),

pairs as (
    select
        coalesce(c.machine_key, o.machine_key) as machine_key,
        coalesce(c.snapshot_date, o.snapshot_date) as snapshot_date,
        o.is_billed_state as was_on,
        c.is_billed_state as is_on,
        coalesce(c.last_started_at, o.last_started_at) as started,
        coalesce(c.last_stopped_at, o.last_stopped_at) as stopped,
        coalesce(c.created_at, o.created_at) as created,
        coalesce(c.cloud, o.cloud) as cloud,
        coalesce(c.scope_id, o.scope_id) as scope_id,
        coalesce(c.owner, o.owner) as owner,
        coalesce(c.plan_status, o.plan_status) as plan_status,
        coalesce(c.edr_status, o.edr_status) as edr_status,
        coalesce(c.power_state, 'gone') as power_state,
        coalesce(c.third_party_edr_only, o.third_party_edr_only) as third_party_edr_only,
        -- The products at the closing night only: a machine gone by then protects nothing that night.
        c.edr_products
    from closing as c
    full outer join opening as o on o.machine_key = c.machine_key and o.snapshot_date = c.snapshot_date
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
