-- Aircraft by tail number: valid records, each plane once.
with validated as (
    select * from {{ ref('stg_planes__validated') }}
),

final as (
    select
        -- keys
        tailnum,
        -- names
        type as aircraft_type,
        manufacturer,
        model,
        engine,
        -- measures
        year as year_built,
        engines,
        seats,
        speed,
        -- lineage back to raw
        ingested_at,
        batch_id,
        line
    from validated
    where reason is null and not is_duplicate
)

select * from final
