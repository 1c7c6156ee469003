{#- One row per flight at its prediction time (var flight_prediction_lead_hours before the
    scheduled departure): everything known about it then. The schedule (hour and weekday in New
    York time, distance), the plane's age, and the entity views as of that instant by the
    point-in-time join: the origin's latest weather, and the carrier's and route's delay rates
    over flights that had landed by then. The flight_delay model reads this one view, keyed by
    flight, so scoring and monitoring see exactly what training saw. -#}
with spine as (
    select
        flight_id,
        prediction_ts as feature_ts,
        carrier,
        origin,
        route,
        tailnum,
        sched_dep_hour_local,
        sched_day_of_week_local,
        distance
    from {{ ref('flight_outcomes') }}
),

joined as (
    {{ point_in_time_join('spine', 'feature_ts',
        ['fv_origin_weather', 'fv_carrier_delays', 'fv_route_delays', 'fv_planes']) }}
),

final as (
    select
        -- keys
        flight_id,
        feature_ts,
        -- the schedule
        sched_dep_hour_local,
        sched_day_of_week_local,
        distance,
        -- the plane
        seats,
        -- origin weather
        temp as origin_temp,
        dewp as origin_dewp,
        humid as origin_humid,
        wind_speed as origin_wind_speed,
        wind_gust as origin_wind_gust,
        precip as origin_precip,
        pressure as origin_pressure,
        visib as origin_visib,
        -- carrier and route delay records
        carrier_landed_1d,
        carrier_delay_rate_1d,
        carrier_mean_arr_delay_1d,
        carrier_landed_7d,
        carrier_delay_rate_7d,
        carrier_mean_arr_delay_7d,
        route_landed_1d,
        route_delay_rate_1d,
        route_mean_arr_delay_1d,
        route_landed_7d,
        route_delay_rate_7d,
        route_mean_arr_delay_7d,
        -- the plane's age when the prediction is made
        extract(year from feature_ts) - year_built as plane_age_years
    from joined
)

select * from final
