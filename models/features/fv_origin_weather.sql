-- One row per New York airport per hour: the weather observed there in that hour (UTC).
with weather as (
    select * from {{ ref('stg_weather') }}
),

final as (
    select
        -- keys
        origin,
        observed_at as feature_ts,
        -- measures
        temp,
        dewp,
        humid,
        wind_speed,
        wind_gust,
        precip,
        pressure,
        visib
    from weather
)

select * from final
