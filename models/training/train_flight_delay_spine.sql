{#- Who we would have scored, when, and what happened: one row per flight at its prediction time
    (var flight_prediction_lead_hours before the scheduled departure), labelled 1 if it arrived
    more than 15 minutes late or never arrived (cancelled or diverted; see flight_outcomes).
    A flight's label is known once it has landed or been cancelled: flights scheduled within
    var flight_label_hours of the newest scheduled departure are left out until later data
    closes their window. Carrier and origin ride along for slice metrics. -#}
with outcomes as (
    select * from {{ ref('flight_outcomes') }}
),

watermark as (
    select max(sched_dep_ts) as last_sched_dep_ts
    from outcomes
),

final as (
    select
        o.flight_id,
        o.prediction_ts as as_of,
        cast(case when o.is_delayed then 1 else 0 end as integer) as label,
        o.carrier,
        o.origin
    from outcomes as o
    cross join watermark as w
    where {{ dbt.dateadd('hour', var('flight_label_hours'), 'o.sched_dep_ts') }} <= w.last_sched_dep_ts
)

select * from final
