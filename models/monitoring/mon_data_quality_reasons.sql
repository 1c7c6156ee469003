-- Per source, ingestion day and quarantine reason: the records it rejected and their share of the
-- records the source sent that day (summed over reasons, the day's quarantine rate).
with batches as (
    select
        batch_id,
        source
    from {{ ref('mon_ingestion') }}
),

reasons as (
    select
        batches.source,
        quarantined.ingested_date as day,
        quarantined.reason,
        cast(sum(quarantined.quarantined_rows) as bigint) as quarantined
    from {{ ref('mon_quarantine_reasons') }} as quarantined
    inner join batches on quarantined.batch_id = batches.batch_id
    group by batches.source, quarantined.ingested_date, quarantined.reason
),

final as (
    select
        -- keys
        reasons.source,
        reasons.day,
        reasons.reason,
        -- counts
        cast(daily.raw_rows as bigint) as rows,
        reasons.quarantined,
        cast(reasons.quarantined as double) / daily.raw_rows as quarantine_rate
    from reasons
    inner join {{ ref('mon_ingestion_daily') }} as daily
        on reasons.source = daily.source and reasons.day = daily.ingested_date
)

select * from final
