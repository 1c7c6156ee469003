-- Per source and ingestion day: batches, rows, and what staging made of them.
with batches as (
    select * from {{ ref('mon_ingestion') }}
),

final as (
    select
        source,
        ingested_date,
        count(*) as batches,
        sum(raw_rows) as raw_rows,
        sum(valid_rows) as valid_rows,
        sum(quarantined_rows) as quarantined_rows,
        sum(duplicate_rows) as duplicate_rows,
        case
            when sum(raw_rows) > 0 then cast(sum(quarantined_rows) as double) / sum(raw_rows)
        end as quarantine_rate
    from batches
    group by source, ingested_date
)

select * from final
