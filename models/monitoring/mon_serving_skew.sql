{#- Training/serving skew: every online prediction's logged feature values against the same
    features recomputed from the warehouse by the point-in-time join, as of the online store's
    clock when they were read. One row per model, version and day served.

    The views an ML model reads are only known once dbt's graph is (at execution), so dbt needs
    the hints below: list every feature view an ML model uses. -#}
-- depends_on: {{ ref('fv_user_activity') }}
-- depends_on: {{ ref('fv_product_popularity') }}
-- depends_on: {{ ref('fv_flight_context') }}
{%- set blocks = ml_models() %}

-- The union below is generated per ML model; sqlfluff renders it without dbt's graph, where
-- its layout cannot be judged.
-- noqa: disable=LT02
with served as (
    select
        request_id,
        model,
        version,
        entity,
        features,
        features_as_of,
        cast(served_at as date) as served_date
    from {{ ref('stg_prediction_log') }}
    where reason is null and features_as_of is not null and entity is not null
),

per_prediction as (
    {%- for block in blocks %}
        {%- set spine -%}
            (select
                entity as {{ block.views[0].entity }},
                features_as_of,
                request_id,
                model,
                version,
                served_date,
                {{ json_strings('features', block.paths) }} as logged
            from served
            where model = '{{ block.model }}')
        {%- endset %}
        select
            recomputed.model,
            recomputed.version,
            recomputed.served_date,
            recomputed.request_id,
            {{ block.features | length }} as features_compared,
            0
            {%- for f in block.features %}
                {%- set logged = try_cast_as(json_field('recomputed.logged', loop.index), 'double') %}
                + case
                    when {{ logged }} is null and recomputed.{{ f }} is null then 0
                    when abs({{ logged }} - recomputed.{{ f }}) <= 1e-9 then 0
                    else 1
                end
            {%- endfor %} as features_differing
        from ({{ point_in_time_join(spine, 'features_as_of', block.views | map(attribute='name') | list) }})
            as recomputed
        {{ 'union all' if not loop.last }}
    {%- else %}
        -- no ML model reads features: nothing to compare
        select
            model,
            version,
            served_date,
            request_id,
            0 as features_compared,
            0 as features_differing
        from served
        where false
    {%- endfor %}
),

final as (
    select
        model,
        version,
        served_date,
        count(*) as predictions,
        count(case when features_differing > 0 then 1 end) as predictions_with_skew,
        avg(case when features_differing > 0 then 1.0 else 0.0 end) as skew_rate,
        sum(features_differing) * 1.0 / nullif(sum(features_compared), 0) as feature_mismatch_rate
    from per_prediction
    group by model, version, served_date
)

select * from final
