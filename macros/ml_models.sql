-- Macros that generate SQL per item: sqlfluff renders them without their arguments, where the
-- layout cannot be judged.
-- noqa: disable=LT02
{#- The ML models (exposures of type ml with a meta.keel spec) as monitoring needs them, from
    dbt's graph: [{model, spec, views (feature_views), features, categorical (features whose
    contract type is text), paths (JSONPaths of the features in a prediction log record),
    training (the training relation), entity, timestamp, label, threshold, calibration_bins,
    grain (meta.keel.monitoring.grain, else var monitoring_grain)}].

    Empty while dbt parses: the graph is only known at execution. It calls no ref(), so only a
    model that reads an ML model's relations (a point-in-time join over its views, its training
    relation) lists them as `-- depends_on` hints. -#}
{% macro ml_models() -%}
    {%- set models = [] %}
    {%- if execute %}
        {%- for exposure in graph.exposures.values() | selectattr('type', 'equalto', 'ml') | sort(attribute='name') %}
            {%- set spec = exposure.config.meta.get('keel', {}) %}
            {%- set trained_on = [] %}
            {%- for node in exposure.depends_on.nodes if node.startswith('model.') %}
                {%- do trained_on.append(node) %}
            {%- endfor %}
            {%- if spec.get('features') and trained_on | length == 1 %}
                {%- set views = feature_views(spec.features, with_relations=false) %}
                {%- set features = [] %}
                {%- set paths = [] %}
                {%- set categorical = [] %}
                {%- for v in views %}
                    {%- set node = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
                        | selectattr('name', 'equalto', v.name) | first %}
                    {%- for f in v.features %}
                        {%- do features.append(f) %}
                        {%- do paths.append('$.' ~ f) %}
                        {%- set column = (node.columns.get(f) if node else none) or {} %}
                        {%- set data_type = (column.get('data_type') or '') | lower %}
                        {%- if data_type.startswith('varchar') or data_type in ['string', 'text'] %}
                            {%- do categorical.append(f) %}
                        {%- endif %}
                    {%- endfor %}
                {%- endfor %}
                {%- set metrics = spec.get('metrics', {}) %}
                {%- set training = graph.nodes[trained_on[0]] %}
                {%- do models.append({
                    'model': exposure.name,
                    'spec': spec,
                    'views': views,
                    'features': features,
                    'categorical': categorical,
                    'numeric': features | reject('in', categorical) | list,
                    'paths': paths,
                    'training': training.relation_name or (training.schema ~ '.' ~ training.alias),
                    'entity': spec.entity,
                    'timestamp': spec.timestamp,
                    'label': spec.label,
                    'threshold': metrics.get('threshold', 0.5),
                    'calibration_bins': metrics.get('calibration_bins', 10),
                    'grain': (spec.get('monitoring') or {}).get('grain') or var('monitoring_grain'),
                }) %}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    {{ return(models) }}
{%- endmacro %}

{#- The monitoring period of `timestamp` for the ML model named in `model_column`: its spec's
    grain (meta.keel.monitoring.grain), else var monitoring_grain. -#}
{% macro ml_model_period(model_column, timestamp) -%}
    {%- set own = ml_models() | rejectattr('grain', 'equalto', var('monitoring_grain')) | list %}
    {%- if own -%}
        case {{ model_column }}
        {%- for block in own %}
            when '{{ block.model }}' then {{ monitoring_period(timestamp, block.grain) }}
        {%- endfor %}
            else {{ monitoring_period(timestamp) }}
        end
    {%- else -%}
        {{ monitoring_period(timestamp) }}
    {%- endif -%}
{%- endmacro %}

{#- Every prediction, batch or online (ref predictions), with its monitoring period `day`: the
    ML model's grain over when its features were known, else (an online prediction logged
    without that time) when it was made. -#}
{% macro monitored_predictions() -%}
    select
        kind,
        model,
        version,
        entity,
        features_as_of,
        score,
        {{ ml_model_period('model', 'coalesce(features_as_of, predicted_at)') }} as day
    from {{ ref('predictions') }}
{%- endmacro %}
