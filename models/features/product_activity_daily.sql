{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['item_id', 'activity_day'],
        on_schema_change='fail',
    )
}}

{#- One row per product per day with events about it: the daily counts product feature views
    add up. Incremental like user_activity_daily. -#}
{%- set refresh_from = refresh_from_day(ref('stg_events'), 'cast(event_ts as date)', 'batch_id') %}

with events as (
    select
        item_id,
        event_name,
        quantity,
        value,
        cast(event_ts as date) as activity_day
    from {{ ref('stg_events') }}
    where
        item_id is not null
        and event_ts >= cast('{{ refresh_from or "0001-01-01" }}' as date)
),

final as (
    select
        item_id,
        activity_day,
        cast(sum(case when event_name = 'view_item' then 1 else 0 end) as bigint) as item_views,
        cast(sum(case when event_name = 'add_to_cart' then 1 else 0 end) as bigint) as add_to_carts,
        cast(sum(case when event_name = 'purchase' then 1 else 0 end) as bigint) as purchases,
        cast(coalesce(sum(case when event_name = 'purchase' then quantity end), 0) as bigint) as units_sold,
        -- exact decimals: the total must not depend on the order rows are read in
        coalesce(sum(case when event_name = 'purchase' then cast(value as decimal(18, 2)) end), 0) as revenue,
        (select max(batch_id) from {{ ref('stg_events') }}) as loaded_through_batch
    from events
    group by item_id, activity_day
)

select * from final
