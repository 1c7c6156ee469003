{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['item_id', 'feature_ts'],
        on_schema_change='fail',
    )
}}

{#- One row per product per day from its first event until `feature_window_days` - 1 days after
    its last: popularity and conversion as known at the end of that day (feature_ts = the next
    midnight, UTC); each row holds for its day (ttl 1 day in the yml). Incremental: a run writes
    the days from the first one new logs touch and reads the `feature_window_days` - 1 days before
    them as context (window functions). Products are few, so there is no sliding path as in
    fv_user_activity: a new day costs about a window's days of products, not the history. -#}
{%- set window = var('feature_window_days') %}
{%- set days = days_to_write(ref('product_activity_daily'), 'activity_day') %}
{%- set first_output = days.first if days else none %}

with activity as (
    select
        *,
        {{ day_number('activity_day') }} as day_number
    from {{ ref('product_activity_daily') }}
    where {{ days_read('activity_day', first_output, window) }}
),

last_day as (
    select {{ day_number('max(activity_day)') }} as day_number
    from {{ ref('product_activity_daily') }}
),

-- the rows to write: every product's dense days from refresh_from on (all days on a full build)
grid as (
    {{ activity_grid('activity', 'item_id', window, '(select l.day_number from last_day as l)', first_output) }}
),

-- the days the trailing windows read: the rows to write, and every active day of the context
days as (
    select
        item_id,
        day_number
    from grid
    union
    select
        item_id,
        day_number
    from activity
),

{%- set measures = ['item_views', 'add_to_carts', 'purchases', 'units_sold', 'revenue'] %}

daily as (
    select
        g.item_id,
        g.day_number,
    {%- for measure in measures %}
        coalesce(a.{{ measure }}, 0) as {{ measure }}{{ ',' if not loop.last }}
    {%- endfor %}
    from days as g
    left join activity as a on g.item_id = a.item_id and g.day_number = a.day_number
),

windowed as (
    select
        item_id,
        day_number,
    {%- for n in [7, window] %}
        {%- set outer = loop %}
    {%- for measure in measures %}
        {{ trailing_sum(measure, n, 'item_id') }} as {{ measure }}_{{ n }}d
        {{- ',' if not (outer.last and loop.last) }}
    {%- endfor %}
    {%- endfor %}
    from daily
),

final as (
    select
        -- keys
        item_id,
        {{ end_of_day_number('day_number') }} as feature_ts,
        -- popularity over trailing windows
        {%- for n in [7, window] %}
            cast(item_views_{{ n }}d as bigint) as item_views_{{ n }}d,
            cast(add_to_carts_{{ n }}d as bigint) as add_to_carts_{{ n }}d,
            cast(purchases_{{ n }}d as bigint) as purchases_{{ n }}d,
            cast(units_sold_{{ n }}d as bigint) as units_sold_{{ n }}d,
            cast(revenue_{{ n }}d as double) as revenue_{{ n }}d,
            -- conversion: purchases per product view (null without views)
            cast(purchases_{{ n }}d / nullif(item_views_{{ n }}d, 0) as double) as conversion_rate_{{ n }}d,
        {%- endfor %}
        -- the last raw batch this run had seen: the next run's watermark
        (select max(a.loaded_through_batch) from {{ ref('product_activity_daily') }} as a) as loaded_through_batch
    from windowed
    {% if first_output is not none -%}
        where day_number >= {{ first_output }}
    {%- endif %}
)

select * from final
