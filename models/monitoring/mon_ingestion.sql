-- Per ingested batch: how many raw rows came in and what staging made of them.
-- The union over contract sources is generated; sqlfluff cannot judge its rendered layout.
-- noqa: disable=LT02
with batches as (
    select * from {{ source('raw', 'batches') }}
),

staged as (
    select
        batch_id,
        count(case when reason is null and not is_duplicate then 1 end) as valid_rows,
        count(reason) as quarantined_rows,
        count(case when is_duplicate then 1 end) as duplicate_rows
    from {{ ref('stg_events__validated') }}
    group by batch_id
    union all
    -- the online prediction log (keel serve); its lines are never duplicates
    select
        batch_id,
        count(case when reason is null then 1 end) as valid_rows,
        count(reason) as quarantined_rows,
        0 as duplicate_rows
    from {{ ref('stg_prediction_log') }}
    group by batch_id
    {%- for s in var('contract_sources') %}
    union all
    -- a source checked by a declared contract (macros/contracts.sql)
    select
        batch_id,
        count(case when reason is null and not is_duplicate then 1 end) as valid_rows,
        count(reason) as quarantined_rows,
        count(case when is_duplicate then 1 end) as duplicate_rows
    from {{ ref('stg_' ~ s ~ '__validated') }}
    group by batch_id
    {%- endfor %}
),

final as (
    select
        -- keys
        batches.batch_id,
        batches.source,
        batches.file,
        -- timestamps
        batches.ingested_at,
        cast(batches.ingested_at as date) as ingested_date,
        -- counts (null where the batch's source has no staging model yet)
        batches.rows as raw_rows,
        staged.valid_rows,
        staged.quarantined_rows,
        staged.duplicate_rows,
        case
            when batches.rows > 0 then cast(staged.quarantined_rows as double) / batches.rows
        end as quarantine_rate
    from batches
    left join staged on batches.batch_id = staged.batch_id
)

select * from final
