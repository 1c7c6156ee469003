-- Airports by FAA code, with the time zone their local times are in: valid records, each once.
with validated as (
    select * from {{ ref('stg_airports__validated') }}
),

final as (
    select
        -- keys
        faa,
        -- names
        name,
        tzone,
        -- measures
        lat,
        lon,
        alt,
        -- lineage back to raw
        ingested_at,
        batch_id,
        line
    from validated
    where reason is null and not is_duplicate
)

select * from final
