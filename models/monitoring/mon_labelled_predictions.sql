{#- Every prediction whose outcome is known: batch or online scores joined to the model's
    training relation on entity and as-of time. A training relation only holds rows whose label
    window has closed, so a prediction appears here once its label has arrived, never before
    (labels arrive late). Threshold and calibration bins come from the spec (meta.keel.metrics).

    ML models are only known at execution: list their training relations and feature views
    (read by ml_models) as hints below. -#}
-- depends_on: {{ ref('train_purchase_propensity') }}
-- depends_on: {{ ref('fv_user_activity') }}
-- depends_on: {{ ref('fv_product_popularity') }}
-- depends_on: {{ ref('train_flight_delay') }}
-- depends_on: {{ ref('fv_flight_context') }}
{%- set blocks = ml_models() %}

-- Generated per ML model; sqlfluff renders it without dbt's graph, where its layout cannot be
-- judged.
-- noqa: disable=LT02
with predictions as (
    -- features_as_of is the label's key, so `day` is its period
    select * from ({{ monitored_predictions() }}) as monitored
    where features_as_of is not null and entity is not null
),

final as (
    {%- for block in blocks %}
    select
        p.kind,
        p.model,
        p.version,
        p.day,
        p.entity,
        p.features_as_of,
        p.score,
        cast(t.{{ block.label }} as integer) as label,
        {{ block.threshold }} as threshold,
        {{ block.calibration_bins }} as bins
    from predictions as p
    inner join {{ block.training }} as t
        on
            p.entity = cast(t.{{ block.entity }} as {{ dbt.type_string() }})
            and p.features_as_of = t.{{ block.timestamp }}
    where p.model = '{{ block.model }}'
    union all
    {%- endfor %}
    -- typed and empty: the shape when no ML model is declared
    select
        kind,
        model,
        version,
        day,
        entity,
        features_as_of,
        score,
        1 as label,
        0.5 as threshold,
        10 as bins
    from predictions
    where false
)

select * from final
