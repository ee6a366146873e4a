-- The intervals between consecutive retained nights whose billed hours the lake does not hold yet:
-- tonight's, and after an upgrade or a lost folder each missing night once. int_license_intervals_new
-- computes them one night at a time, so that a catch-up of a month at scale fits the memory limit.
-- Grain: one row per snapshot_date (the interval's closing night).
with nights as (
    select snapshot_date, min(snapshot_at) as snapshot_at from marts.machine_history group by 1
),

intervals as (
    select lag(snapshot_date) over w as prev_date, lag(snapshot_at) over w as t0,
        snapshot_date, snapshot_at as t1
    from nights
    window w as (order by snapshot_date)
)

select * from intervals
where prev_date is not null
    and snapshot_date not in (
        select snapshot_date from derived.saved_nights where dataset = 'license_intervals'
    )
