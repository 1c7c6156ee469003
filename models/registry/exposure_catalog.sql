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
    {%- for r in rows %}
        select
            {{ sql_string(r[0]) }} as exposure,
            {{ sql_string(r[1]) }} as exposure_type,
            {{ sql_string(r[2]) }} as owner,
            {{ sql_string(r[3]) }} as maturity,
            {{ sql_string(r[4]) }} as depends_on
        {{ 'union all' if not loop.last }}
    {%- else %}
        select
            cast(null as varchar) as exposure,
            cast(null as varchar) as exposure_type,
            cast(null as varchar) as owner,
            cast(null as varchar) as maturity,
            cast(null as varchar) as depends_on
        where false
    {%- endfor %}
)

select * from catalog
