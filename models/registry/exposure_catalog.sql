{#- Every dbt exposure (ML models, dashboards, applications) and each model it depends on, read
    from dbt's graph: what is downstream of a training set, a feature view or a prediction table.
    An exposure that uses an ML model's predictions names it in `meta.keel.consumes` (one
    relation, such as predictions, holds every model's scores, so dbt's graph alone cannot tell
    which model a dashboard reads): one row per model it consumes, else `consumes` is null. -#}
{%- set rows = [] %}
{%- if execute %}
    {%- for exposure in graph.exposures.values() | sort(attribute='name') %}
        {%- set consumes = exposure.config.meta.get('keel', {}).get('consumes') or [none] %}
        {%- for parent in exposure.depends_on.nodes %}
            {%- set node = graph.nodes.get(parent) or graph.sources.get(parent) %}
            {%- for model in consumes %}
                {%- do rows.append([exposure.name, exposure.type, exposure.owner.name or exposure.owner.email,
                    exposure.maturity, node.name if node else parent, model]) %}
            {%- endfor %}
        {%- endfor %}
    {%- endfor %}
{%- endif %}

with catalog as (
    {{ text_rows(rows, ['exposure', 'exposure_type', 'owner', 'maturity', 'depends_on', 'consumes']) }}
)

select * from catalog
