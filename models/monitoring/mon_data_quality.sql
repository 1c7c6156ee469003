{#- Per source and ingestion day, every day from the source's first batch to the newest batch of
    any source (days without a batch have zero rows): volume and what staging made of it,
    freshness, a volume z-score against the trailing window, and payload fields new or missing
    against it. -#}
{%- set window_days = var('quality_window_days') %}

with daily as (
    select * from {{ ref('mon_ingestion_daily') }}
),

sources as (
    select
        source,
        min({{ day_number('ingested_date') }}) as first_day_number
    from daily
    group by source
),

newest_day as (
    select max({{ day_number('ingested_date') }}) as last_day_number
    from daily
),

spine as (
    -- every day from each source's first day to the newest day of any source
    select
        sources.source,
        {{ integer_series('sources.first_day_number', 'newest_day.last_day_number') }} as day_number
    from sources
    cross join newest_day
),

newest_events as (
    -- per batch, the event time of its newest valid record: clickstream events, served predictions
    select
        batch_id,
        max(event_ts) as newest_event_at
    from {{ ref('stg_events') }}
    group by batch_id
    union all
    select
        batch_id,
        max(served_at) as newest_event_at
    from {{ ref('stg_prediction_log') }}
    where reason is null
    group by batch_id
),

freshness as (
    select
        batches.source,
        batches.ingested_date,
        max(batches.ingested_at) as last_ingested_at,
        max(newest_events.newest_event_at) as newest_event_at
    from {{ ref('mon_ingestion') }} as batches
    left join newest_events on batches.batch_id = newest_events.batch_id
    group by batches.source, batches.ingested_date
),

volume as (
    select
        spine.source,
        spine.day_number,
        cast({{ dbt.dateadd('day', 'spine.day_number', "cast('1970-01-01' as date)") }} as date) as day,
        cast(coalesce(daily.batches, 0) as bigint) as batches,
        cast(coalesce(daily.raw_rows, 0) as bigint) as received_rows,
        -- zero on a day without a batch; null (from mon_ingestion) for a source staging does not read
        {%- for column in ['valid_rows', 'quarantined_rows', 'duplicate_rows'] %}
            case when daily.source is null then 0 else cast(daily.{{ column }} as bigint) end as {{ column }},
        {%- endfor %}
        daily.quarantine_rate
    from spine
    left join daily
        on
            spine.source = daily.source
            and spine.day_number = {{ day_number('daily.ingested_date') }}
),

windowed as (
    -- the same source's window_days days before the day (the day excluded): one row per day
    select
        *,
        count(*) over w as window_days,
        avg(cast(received_rows as double)) over w as window_mean,
        stddev_samp(cast(received_rows as double)) over w as window_stddev,
        min(received_rows) over w as window_min,
        max(received_rows) over w as window_max
    from volume
    window w as (
        partition by source order by day_number
        rows between {{ window_days }} preceding and 1 preceding
    )
),

scored as (
    -- no score on too short a history or a constant one (min = max: a stddev of exactly zero)
    select
        *,
        case
            when window_days >= {{ var('quality_min_window_days') }} and window_max > window_min
                then (received_rows - window_mean) / window_stddev
        end as volume_zscore
    from windowed
),

field_changes as (
    select
        source,
        day,
        -- nullif: engines whose listagg joins an empty list to '' give null like the others
        nullif({{ dbt.listagg('case when is_new then field end', "', '", 'order by field') }}, '')
            as new_fields,
        nullif({{ dbt.listagg('case when is_missing then field end', "', '", 'order by field') }}, '')
            as missing_fields
    from {{ ref('mon_data_quality_fields') }}
    where is_new or is_missing
    group by source, day
),

final as (
    select
        -- keys
        scored.source,
        scored.day,
        -- volume and what staging made of it
        scored.batches,
        scored.received_rows as rows,
        scored.valid_rows,
        scored.quarantined_rows as quarantined,
        scored.quarantine_rate,
        scored.duplicate_rows as duplicates,
        -- freshness
        freshness.last_ingested_at,
        freshness.newest_event_at,
        {{ dbt.datediff('freshness.newest_event_at', 'freshness.last_ingested_at', 'second') }} / 3600.0
            as freshness_hours,
        -- volume against the trailing window
        scored.window_days as volume_window_days,
        scored.window_mean as volume_window_mean,
        scored.window_stddev as volume_window_stddev,
        scored.volume_zscore,
        abs(scored.volume_zscore) > {{ var('quality_zscore_threshold') }} as is_volume_anomaly,
        -- payload fields against the trailing window
        field_changes.new_fields,
        field_changes.missing_fields
    from scored
    left join freshness
        on scored.source = freshness.source and scored.day = freshness.ingested_date
    left join field_changes
        on scored.source = field_changes.source and scored.day = field_changes.day
)

select * from final
