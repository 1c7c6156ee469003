-- The flights as the rest of Keel sees them: valid records, each flight once, times in UTC.
with validated as (
    select * from {{ ref('stg_flights__validated') }}
),

scheduled as (
    -- time_hour is the scheduled hour in UTC; minute the scheduled minute within it
    select
        *,
        {{ dbt.dateadd('minute', 'minute', 'time_hour') }} as sched_dep_ts
    from validated
    where reason is null and not is_duplicate
),

final as (
    select
        -- keys: carrier, flight number, origin and scheduled departure (UTC), e.g.
        -- UA1545-EWR-2013-01-01 10:15:00
        concat(
            carrier, cast(flight as {{ dbt.type_string() }}), '-', origin, '-',
            cast(sched_dep_ts as {{ dbt.type_string() }})
        ) as flight_id,
        -- ids
        carrier,
        flight,
        tailnum,
        origin,
        dest,
        -- timestamps: the schedule in UTC, and the local HHMM clock times as sent (converted
        -- with each airport's time zone in flight_outcomes)
        sched_dep_ts,
        sched_dep_time as sched_dep_hhmm,
        dep_time as dep_hhmm,
        sched_arr_time as sched_arr_hhmm,
        arr_time as arr_hhmm,
        ingested_at,
        -- measures
        dep_delay,
        arr_delay,
        air_time,
        distance,
        -- flags
        dep_time is null as is_cancelled,
        dep_time is not null and arr_delay is null as is_diverted,
        -- lineage back to raw
        batch_id,
        line
    from scheduled
)

select * from final
