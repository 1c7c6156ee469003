-- Clickstream records that broke the contract: kept with why, never dropped.
with validated as (
    select * from {{ ref('stg_events__validated') }}
),

final as (
    select
        -- keys
        batch_id,
        line,
        -- why
        reason,
        reason_detail,
        -- what could be read of it
        producer,
        event_id,
        event_name,
        event_ts,
        -- the record as received
        file,
        ingested_at,
        payload,
        payload_bytes
    from validated
    where reason is not null
)

select * from final
