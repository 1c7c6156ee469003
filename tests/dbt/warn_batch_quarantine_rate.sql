-- Warns (never fails the build) for each batch whose quarantine rate is above
-- var max_quarantine_rate: a producer is probably sending broken records.
{{ config(severity='warn') }}

select
    batch_id,
    source,
    file,
    raw_rows,
    quarantined_rows,
    quarantine_rate
from {{ ref('mon_ingestion') }}
where quarantine_rate > {{ var('max_quarantine_rate') }}
