-- Hourly weather at each New York airport: valid records, each (airport, hour) once, in UTC.
with validated as (
    select * from {{ ref('stg_weather__validated') }}
),

final as (
    select
        -- keys
        origin,
        time_hour as observed_at,
        -- measures
        temp,
        dewp,
        humid,
        wind_dir,
        wind_speed,
        wind_gust,
        precip,
        pressure,
        visib,
        -- lineage back to raw
        ingested_at,
        batch_id,
        line
    from validated
    where reason is null and not is_duplicate
)

select * from final
