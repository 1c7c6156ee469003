-- Every raw row of a staged source (the clickstream, the online prediction log and the sources
-- with a declared contract, var contract_sources) is accounted for, per batch: the rows
-- raw.events holds, the rows raw.batches recorded, and valid + quarantined + duplicates in
-- staging (via mon_ingestion) agree.
{%- set staged = [var('clickstream_source'), 'prediction_log'] + var('contract_sources') %}
with raw_counts as (
    select
        batch_id,
        count(*) as raw_rows
    from {{ source('raw', 'events') }}
    where source in ({{ sql_strings(staged) }})  -- noqa: LT05
    group by batch_id
)

select
    raw_counts.batch_id,
    raw_counts.raw_rows,
    ingestion.raw_rows as batch_rows,
    ingestion.valid_rows,
    ingestion.quarantined_rows,
    ingestion.duplicate_rows
from raw_counts
left join {{ ref('mon_ingestion') }} as ingestion on raw_counts.batch_id = ingestion.batch_id
where
    ingestion.valid_rows is null
    or raw_counts.raw_rows != ingestion.raw_rows
    or raw_counts.raw_rows != ingestion.valid_rows + ingestion.quarantined_rows + ingestion.duplicate_rows
