{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['user_id', 'activity_day'],
        on_schema_change='fail',
    )
}}

{#- One row per user per day with events: the daily counts the user feature views add up.
    Incremental: recomputes whole days from the first day new batches touched (see
    refresh_from_day), so a late event lands in its own day. -#}
{%- set refresh_from = refresh_from_day(ref('stg_events'), 'cast(event_ts as date)', 'batch_id') %}

with events as (
    select
        user_id,
        session_id,
        event_name,
        value,
        cast(event_ts as date) as activity_day
    from {{ ref('stg_events') }}
    where event_ts >= cast('{{ refresh_from or "0001-01-01" }}' as date)
),

sessions as (
    -- a session counts once per day it has events in
    select
        user_id,
        activity_day,
        session_id,
        max(case when event_name = 'add_to_cart' then 1 else 0 end) as has_cart,
        max(case when event_name = 'purchase' then 1 else 0 end) as has_purchase
    from events
    group by user_id, activity_day, session_id
),

session_counts as (
    select
        user_id,
        activity_day,
        cast(sum(has_cart) as bigint) as cart_sessions,
        cast(sum(has_cart * has_purchase) as bigint) as converted_cart_sessions,
        count(*) as sessions
    from sessions
    group by user_id, activity_day
),

event_counts as (
    select
        user_id,
        activity_day,
        cast(sum(case when event_name = 'page_view' then 1 else 0 end) as bigint) as page_views,
        cast(sum(case when event_name = 'view_item' then 1 else 0 end) as bigint) as item_views,
        cast(sum(case when event_name = 'add_to_cart' then 1 else 0 end) as bigint) as add_to_carts,
        cast(sum(case when event_name = 'purchase' then 1 else 0 end) as bigint) as purchases,
        -- money is summed as exact decimals, so the total never depends on the order rows are read in
        coalesce(sum(case when event_name = 'purchase' then cast(value as decimal(18, 2)) end), 0) as spend
    from events
    group by user_id, activity_day
),

final as (
    select
        -- keys
        e.user_id,
        e.activity_day,
        -- counts
        e.page_views,
        e.item_views,
        e.add_to_carts,
        e.purchases,
        e.spend,
        s.sessions,
        s.cart_sessions,
        s.converted_cart_sessions,
        -- the last raw batch this run had seen: the next run's watermark
        (select max(batch_id) from {{ ref('stg_events') }}) as loaded_through_batch
    from event_counts as e
    inner join session_counts as s
        on e.user_id = s.user_id and e.activity_day = s.activity_day
)

select * from final
