-- Per batch and reason code: how many of the batch's records were quarantined for it.
with quarantined as (
    select
        batch_id,
        ingested_at,
        reason
    from {{ ref('stg_events__quarantine') }}
    union all
    select
        batch_id,
        ingested_at,
        reason
    from {{ ref('stg_prediction_log') }}
    where reason is not null
    union all
    select
        batch_id,
        ingested_at,
        reason
    from {{ ref('stg_contract_sources__quarantine') }}
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
