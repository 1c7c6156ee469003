{#- Per source, ingestion day and top-level payload field: how often the field could not be read
    (null rate), and whether it is new or missing against the trailing window of days before. -#}
{%- set window_days = var('quality_window_days') %}

with days as (
    -- every day a source ingested at least one batch, with its raw rows (the null-rate denominator)
    select
        source,
        ingested_date as day,
        {{ day_number('ingested_date') }} as day_number,
        cast(raw_rows as bigint) as received_rows
    from {{ ref('mon_ingestion_daily') }}
),

field_days as (
    select
        source,
        ingested_date as day,
        {{ day_number('ingested_date') }} as day_number,
        field,
        cast(sum(present_records) as bigint) as present_records,
        cast(sum(null_value_records) as bigint) as null_value_records
    from {{ ref('mon_payload_fields') }}
    group by source, ingested_date, field
),

window_fields as (
    -- fields each day's trailing window saw: the window_days days before it, the day excluded
    select distinct
        days.source,
        days.day,
        field_days.field
    from days
    inner join field_days
        on
            days.source = field_days.source
            and field_days.day_number between days.day_number - {{ window_days }} and days.day_number - 1
),

grid as (
    select
        source,
        day,
        field
    from field_days
    union
    select
        source,
        day,
        field
    from window_fields
),

compared as (
    select
        grid.source,
        grid.day,
        grid.field,
        days.received_rows,
        coalesce(field_days.present_records, 0) as present_records,
        coalesce(field_days.null_value_records, 0) as null_value_records,
        window_fields.field is not null as in_window,
        -- a window that saw no field at all is no baseline to compare with
        count(window_fields.field) over (partition by grid.source, grid.day) as window_field_count
    from grid
    inner join days
        on grid.source = days.source and grid.day = days.day
    left join field_days
        on grid.source = field_days.source and grid.day = field_days.day and grid.field = field_days.field
    left join window_fields
        on grid.source = window_fields.source and grid.day = window_fields.day and grid.field = window_fields.field
),

final as (
    select
        -- keys
        source,
        day,
        field,
        -- counts: null means absent from the record or present as JSON null
        received_rows as rows,
        present_records,
        null_value_records,
        in_window,
        received_rows - present_records + null_value_records as null_records,
        case
            when received_rows > 0
                then cast(received_rows - present_records + null_value_records as double) / received_rows
        end as null_rate,
        -- schema change against the trailing window
        present_records > 0 and not in_window and window_field_count > 0 as is_new,
        present_records = 0 and in_window and received_rows > 0 as is_missing
    from compared
)

select * from final
