{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{#- Per raw batch (any source) and top-level field of its JSON-object records: how many records
    carry the field and how many of those carry it as JSON null. The raw material of per-field null
    rates and schema-change detection (mon_data_quality_fields), counted once per batch.

    Only records staging would parse count: valid UTF-8, at most var max_payload_length
    characters, valid JSON; anything but an object has no fields. Incremental like staging: a run
    reads only the batches above the last one counted (batch ids only grow). -#}

with source as (
    select
        batch_id,
        source,
        line,
        payload,
        ingested_at
    from {{ source('raw', 'events') }}
    where
        payload_bytes is null
        and length(payload) <= {{ var('max_payload_length') }}
        {% if is_incremental() -%}
            and batch_id > (select coalesce(max(batch_id), 0) from {{ this }})
        {%- endif %}
),

parsed as (
    select
        batch_id,
        source,
        line,
        ingested_at,
        case when {{ json_is_valid('payload') }} then payload end as payload
    from source
),

members as (
    -- one row per (record, top-level key)
    select
        batch_id,
        source,
        line,
        ingested_at,
        {{ json_members('payload', 'field', 'field_value') }}
    from parsed
    where payload is not null
),

final as (
    -- distinct lines: a key repeated within one record counts that record once
    select
        -- keys
        batch_id,
        field,
        -- the batch
        source,
        cast(ingested_at as date) as ingested_date,
        -- counts
        count(distinct line) as present_records,
        count(distinct case when field_value is null then line end) as null_value_records
    from members
    group by batch_id, field, source, cast(ingested_at as date)
)

select * from final
