-- Every raw clickstream row is accounted for, per batch: raw = valid + quarantined + duplicates,
-- and raw.batches records the same row count as raw.events holds.
with raw_counts as (
    select
        batch_id,
        count(*) as raw_rows
    from {{ source('raw', 'events') }}
    where source = '{{ var("clickstream_source") }}'
    group by batch_id
),

staged as (
    select
        batch_id,
        count(case when reason is null and not is_duplicate then 1 end) as valid_rows,
        count(reason) as quarantined_rows,
        count(case when is_duplicate then 1 end) as duplicate_rows
    from {{ ref('stg_events__validated') }}
    group by batch_id
)

select
    raw_counts.batch_id,
    raw_counts.raw_rows,
    batches.rows as batch_rows,
    staged.valid_rows,
    staged.quarantined_rows,
    staged.duplicate_rows
from raw_counts
left join staged on raw_counts.batch_id = staged.batch_id
left join {{ source('raw', 'batches') }} as batches on raw_counts.batch_id = batches.batch_id
where
    staged.batch_id is null
    or raw_counts.raw_rows != staged.valid_rows + staged.quarantined_rows + staged.duplicate_rows
    or batches.rows is null
    or raw_counts.raw_rows != batches.rows
