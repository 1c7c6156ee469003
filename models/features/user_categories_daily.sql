{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['user_id', 'activity_day'],
        on_schema_change='fail',
    )
}}

{#- One row per user, day and item category the user looked at or bought that day: what
    "distinct categories over N days" counts (a distinct count cannot be summed from daily
    counts). Incremental like user_activity_daily. -#}
{%- set refresh_from = refresh_from_day(ref('stg_events'), 'cast(event_ts as date)', 'batch_id') %}

with events as (
    select
        user_id,
        item_category,
        cast(event_ts as date) as activity_day
    from {{ ref('stg_events') }}
    where
        item_category is not null
        and event_ts >= cast('{{ refresh_from or "0001-01-01" }}' as date)
),

final as (
    select distinct
        user_id,
        activity_day,
        item_category,
        (select max(batch_id) from {{ ref('stg_events') }}) as loaded_through_batch
    from events
)

select * from final
