{#- What each model version scored or served, per period (var monitoring_grain) of the features'
    as-of time, as value counts (the form macros/drift.sql compares): the model's features (role
    feature) and its scores (role prediction). A batch score's features are recomputed by the
    point-in-time join at the feature time it used; an online prediction's are the values it
    logged when served (what was served is what monitoring sees).

    The views an ML model reads are only known at execution: list them as hints below. -#}
-- depends_on: {{ ref('fv_user_activity') }}
-- depends_on: {{ ref('fv_product_popularity') }}
-- depends_on: {{ ref('fv_flight_context') }}
{%- set blocks = ml_models() %}
{%- set keys = ['model', 'version', 'day'] %}

-- Generated per ML model; sqlfluff renders it without dbt's graph, where its layout cannot be
-- judged and `served` looks unused.
-- noqa: disable=LT02,ST03
with predictions as (
    {{ monitored_predictions() }}
),

served as (
    select
        model,
        version,
        features,
        {{ ml_model_period('model', 'coalesce(features_as_of, served_at)') }} as day
    from {{ ref('stg_prediction_log') }}
    where reason is null
),

{%- for block in blocks %}
    {%- set spine -%}
        (select
            entity as {{ block.views[0].entity }},
            features_as_of,
            model,
            version,
            day
        from predictions
        where kind = 'batch' and model = '{{ block.model }}')
    {%- endset %}

features_{{ loop.index }} as (
    select
        model,
        version,
        day,
        {{ block.features | join(', ') }}
    from ({{ point_in_time_join(spine, 'features_as_of', block.views | map(attribute='name') | list) }})
        as scored
    union all
    select
        model,
        version,
        day,
        {%- for f in block.features %}
        {{ try_cast_as(json_field('logged', loop.index),
            dbt.type_string() if f in block.categorical else 'double') }} as {{ f }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from (
        select
            model,
            version,
            day,
            {{ json_strings('features', block.paths) }} as logged
        from served
        where model = '{{ block.model }}'
    ) as logged_rows
),
{%- endfor %}

final as (
    {%- for block in blocks %}
    select
        model,
        version,
        day,
        'feature' as role,
        column_name,
        value,
        category,
        rows
    from ({{ value_counts('features_' ~ loop.index, block.numeric, block.categorical, keys) }}) as counted
    union all
    {%- endfor %}
    select
        model,
        version,
        day,
        'prediction' as role,
        column_name,
        value,
        category,
        rows
    from ({{ value_counts('predictions', ['score'], [], keys) }}) as counted
)

select * from final
