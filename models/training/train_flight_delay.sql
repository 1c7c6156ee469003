{#- The flight-delay training set: each spine row (flight, as_of, label) with the flight's
    context as known at as_of (fv_flight_context), by the point-in-time join. -#}

with spine as (
    select
        flight_id,
        as_of,
        label,
        carrier,
        origin
    from {{ ref('train_flight_delay_spine') }}
),

training_set as (
    {{ point_in_time_join('spine', 'as_of', ['fv_flight_context']) }}
)

select * from training_set
