-- The clickstream as the rest of Keel sees it: valid events, each once, one shape for all producers.
with validated as (
    select * from {{ ref('stg_events__validated') }}
),

final as (
    select
        -- keys
        event_id,
        -- ids
        user_id,
        session_id,
        item_id,
        -- names
        event_name,
        item_category,
        currency,
        producer,
        -- timestamps
        event_ts,
        ingested_at,
        -- measures
        price,
        quantity,
        value,
        -- lineage back to raw
        batch_id,
        line
    from validated
    where reason is null and not is_duplicate
)

select * from final
