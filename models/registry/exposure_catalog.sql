{#- Every dbt exposure (ML models, dashboards, applications) and each model it depends on, read
    from dbt's graph: what is downstream of a training set, a feature view or a prediction table. -#}
{%- set rows = [] %}
{%- if execute %}
    {%- for exposure in graph.exposures.values() | sort(attribute='name') %}
        {%- for parent in exposure.depends_on.nodes %}
            {%- set node = graph.nodes.get(parent) or graph.sources.get(parent) %}
            {%- do rows.append([exposure.name, exposure.type, exposure.owner.name or exposure.owner.email,
                exposure.maturity, node.name if node else parent]) %}
        {%- endfor %}
    {%- endfor %}
{%- endif %}

with catalog as (
    {{ text_rows(rows, ['exposure', 'exposure_type', 'owner', 'maturity', 'depends_on']) }}
)

select * from catalog
