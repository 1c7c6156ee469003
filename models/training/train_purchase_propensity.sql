{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['user_id', 'as_of'],
        on_schema_change='fail',
    )
}}

{#- The purchase-propensity training set: each spine row (user, as_of, label) with the user's
    activity features as known at as_of, by the point-in-time join (macros/point_in_time.sql).
    A spine row whose user has no feature row within the view's ttl keeps null features.
    Incremental: joins only the as-of times its spine rewrote since this table's watermark (the
    spine rewrites every as-of time from some point on and stamps each row with its watermark;
    macros/training.sql), reading the feature view from the first of them on. Each row keeps the
    older of the spine's and the feature view's watermarks, so that rows joined to a lagging view
    are joined again. -#}
{%- set since = refresh_from_day(ref('train_purchase_propensity_spine'), 'as_of', 'loaded_through_batch') %}

with spine as (
    select
        user_id,
        as_of,
        label,
        -- the older of the spine's and the feature view's watermarks (macros/training.sql)
        least(
            loaded_through_batch,
            (select max(f.loaded_through_batch) from {{ ref('fv_user_activity') }} as f)
        ) as loaded_through_batch
    from {{ ref('train_purchase_propensity_spine') }}
    {%- if since %}
        where as_of >= cast('{{ since }}' as timestamp)
    {%- endif %}
),

training_set as (
    {{ point_in_time_join('spine', 'as_of', ['fv_user_activity'], since) }}
)

select * from training_set
