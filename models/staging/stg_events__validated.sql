{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{#- Every raw clickstream record, checked against the contract and put in one canonical shape.
    stg_events (valid, first copy) and stg_events__quarantine (rejected) are views over it, so
    both always account for exactly the same raw rows.

    Producers: shop_a logs flat JSON with ISO-8601 times; shop_b logs GA-style JSON with epoch
    microseconds, the session under event_params and the item in an items array. A record is
    GA-style when its text names a GA-only key; only that shape's paths are then read (half the
    JSON work of reading both). A flat record that merely mentions such a key in a value would be
    read as GA-style and quarantined as missing fields: visible, never silently wrong.
    Each field: (name, flat path, GA-style path). The last one exists only in GA-style records. -#}
{%- set fields = [
    ('event_id', '$.event_id', '$.event_id'),
    ('event_name', '$.event_name', '$.event_name'),
    ('event_time', '$.event_time', '$.event_timestamp'),
    ('user_id', '$.user_id', '$.user_pseudo_id'),
    ('session_id', '$.session_id', '$.event_params.ga_session_id'),
    ('item_id', '$.item_id', '$.items[0].item_id'),
    ('item_category', '$.item_category', '$.items[0].item_category'),
    ('price', '$.price', '$.items[0].price'),
    ('quantity', '$.quantity', '$.items[0].quantity'),
    ('value', '$.value', '$.ecommerce.value'),
    ('currency', '$.currency', '$.ecommerce.currency'),
    ('second_item', '$.items[1]', '$.items[1]'),
] -%}
{%- set ga_keys = ['"event_timestamp"', '"user_pseudo_id"', '"event_params"', '"items"'] -%}

with source as (
    select
        batch_id,
        file,
        line,
        payload,
        payload_bytes,
        ingested_at
    from {{ source('raw', 'events') }}
    where
        source = '{{ var("clickstream_source") }}'
        {% if is_incremental() -%}
            -- batch ids only grow, so new batches are exactly those above the last one seen
            and batch_id > (select coalesce(max(batch_id), 0) from {{ this }})
        {%- endif %}
),

screened as (
    -- oversized and non-UTF-8 records are never parsed
    select
        *,
        {{ record_is_json() }} as is_json
    from source
),

shaped as (
    -- which producer's shape the record is in, from the GA-only keys its text names
    select
        *,
        case
            when {{ contains_any('payload', ga_keys) }} then 'shop_b'
            else 'shop_a'
        end as producer
    from screened
),

extracted as (
    -- parse each JSON object once, for the paths of its producer's shape
    select
        *,
        case
            when not is_json or not starts_with(ltrim(payload), '{{ '{' }}') then null
            when producer = 'shop_b'
                then {{ json_strings('payload', fields | map(attribute=2) | list) }}
            else {{ json_strings('payload', fields | map(attribute=1) | list) }}
        end as fields
    from shaped
),

unified as (
    select
        batch_id,
        file,
        line,
        payload,
        payload_bytes,
        ingested_at,
        is_json,
        producer,
        fields is not null as is_object,
        {%- for name, flat_path, ga_path in fields %}
            {{ json_field('fields', loop.index) }} as {{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from extracted
),

typed as (
    select
        -- keys
        batch_id,
        file,
        line,
        producer,
        -- ids and names
        event_id,
        event_name,
        user_id,
        session_id,
        item_id,
        item_category,
        currency,
        -- timestamps
        ingested_at,
        event_time as event_time_text,
        case
            when producer = 'shop_a' then {{ iso_to_utc('event_time') }}
            when
                {{ try_cast_as('event_time', 'bigint') }}
                between 0 and 32503680000000000  -- year 3000: anything later is not a time
                then {{ epoch_us_to_utc(try_cast_as('event_time', 'bigint')) }}
        end as event_ts,
        -- measures, as text (to tell absent from malformed) and typed
        price as price_text,
        quantity as quantity_text,
        value as value_text,
        {{ try_cast_as('price', 'double') }} as price,
        {{ try_cast_as('quantity', 'double') }} as quantity_number,
        {{ try_cast_as('value', 'double') }} as value,
        -- flags and the record itself
        is_json,
        is_object,
        second_item is not null as has_second_item,
        payload,
        payload_bytes
    from unified
),

checked as (
    select
        typed.*,
        names.event_name is not null as is_known_event,
        coalesce(names.requires_item, false) as requires_item,
        case
            {{ unreadable_record_reasons('typed.') }}
            when
                typed.event_id is null or typed.event_name is null or typed.event_time_text is null
                or typed.user_id is null or typed.session_id is null
                then 'missing_required_field'
            when names.event_name is null then 'unknown_event_name'
            when names.requires_item and (typed.item_id is null or typed.price_text is null)
                then 'missing_required_field'
            when
                (typed.price_text is not null and typed.price is null)
                or (typed.value_text is not null and typed.value is null)
                or (typed.quantity_text is not null and (
                    typed.quantity_number is null or typed.quantity_number != floor(typed.quantity_number)
                ))
                then 'wrong_type'
            when typed.price < 0 or typed.value < 0 or typed.quantity_number < 1 then 'invalid_value'
            when typed.has_second_item then 'multiple_items'
            when typed.event_ts is null then 'unparseable_timestamp'
            when
                typed.event_ts
                > {{ dbt.dateadd('hour', var('max_future_skew_hours'), 'typed.ingested_at') }}
                then 'future_timestamp'
        end as reason
    from typed
    left join {{ ref('event_names') }} as names on typed.event_name = names.event_name
),

explained as (
    -- the canonical columns, the fields a reason is about (for whoever fixes the producer), and
    -- the original record only where someone must look at it: narrow rows for what follows
    select
        -- keys
        batch_id,
        line,
        event_id,
        -- ids
        user_id,
        session_id,
        item_id,
        -- names
        producer,
        event_name,
        item_category,
        currency,
        -- timestamps
        event_ts,
        ingested_at,
        -- measures
        price,
        cast(quantity_number as integer) as quantity,
        value,
        -- validation outcome
        reason,
        case
            when reason = 'missing_required_field'
                then concat_ws(
                    ', ',
                    case when event_id is null then 'event_id' end,
                    case when event_name is null then 'event_name' end,
                    case when event_time_text is null then 'event_time' end,
                    case when user_id is null then 'user_id' end,
                    case when session_id is null then 'session_id' end,
                    case when requires_item and item_id is null then 'item_id' end,
                    case when requires_item and price_text is null then 'price' end
                )
            when reason = 'wrong_type'
                then concat_ws(
                    ', ',
                    case when price_text is not null and price is null then 'price' end,
                    case when value_text is not null and value is null then 'value' end,
                    case
                        when quantity_text is not null and (
                            quantity_number is null or quantity_number != floor(quantity_number)
                        ) then 'quantity'
                    end
                )
            when reason = 'invalid_value'
                then concat_ws(
                    ', ',
                    case when price < 0 then 'price' end,
                    case when value < 0 then 'value' end,
                    case when quantity_number < 1 then 'quantity' end
                )
            when reason = 'unknown_event_name' then event_name
            when reason in ('unparseable_timestamp', 'future_timestamp') then event_time_text
        end as reason_detail,
        -- the record as received, for quarantined rows only
        case when reason is not null then file end as file,
        case when reason is not null then payload end as payload,
        case when reason is not null then payload_bytes end as payload_bytes
    from checked
),

repeated_ids as (
    -- event ids that more than one valid record of this run carries (~0.1% of them): only those
    -- records need ordering, far cheaper than a window over every record
    select event_id
    from explained
    where reason is null
    group by event_id
    having count(*) > 1
),

later_copies as (
    -- of several valid records with the same event id, the first received (batch, line) is kept
    select
        batch_id,
        line
    from (
        select
            batch_id,
            line,
            row_number() over (partition by event_id order by batch_id, line) as copy_number
        from explained
        where reason is null and event_id in (select event_id from repeated_ids)
    ) as copies
    where copy_number > 1
),

{% if is_incremental() -%}
    already_valid as (
        -- events kept by earlier runs that this run's valid records carry again: duplicates. The
        -- semi-join keeps the hash tables the size of the new data, not of the history
        select event_id
        from {{ this }}
        where
            reason is null and not is_duplicate
            and event_id in (
                select event_id
                from explained
                where reason is null
            )
    ),
{%- endif %}

final as (
    select
        explained.*,
        explained.reason is null and (
            later_copies.line is not null
            {%- if is_incremental() %}
                or already_valid.event_id is not null
            {%- endif %}
        ) as is_duplicate
    from explained
    left join later_copies
        on explained.batch_id = later_copies.batch_id and explained.line = later_copies.line
    {% if is_incremental() -%}
        -- a plain equi-join (already_valid holds each id once); reason is checked above
        left join already_valid on explained.event_id = already_valid.event_id
    {%- endif %}
)

select * from final
