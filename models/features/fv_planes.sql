{#- One row per aircraft with a known year of manufacture, known from the first day of that
    year (the planes table is reference data: it describes the aircraft, not a moment). -#}
with planes as (
    select * from {{ ref('stg_planes') }}
    where year_built is not null
),

final as (
    select
        -- keys
        tailnum,
        cast({{ dbt.dateadd('year', 'year_built - 1970', "cast('1970-01-01' as timestamp)") }} as timestamp)
            as feature_ts,
        -- measures
        year_built,
        seats,
        engines
    from planes
)

select * from final
