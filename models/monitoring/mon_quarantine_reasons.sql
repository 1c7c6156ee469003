-- Per batch and reason code: how many of the batch's records were quarantined for it.
with quarantined as (
    select * from {{ ref('stg_events__quarantine') }}
),

final as (
    select
        quarantined.batch_id,
        cast(quarantined.ingested_at as date) as ingested_date,
        quarantined.reason,
        count(*) as quarantined_rows
    from quarantined
    group by quarantined.batch_id, cast(quarantined.ingested_at as date), quarantined.reason
)

select * from final
