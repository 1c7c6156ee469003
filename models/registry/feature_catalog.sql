{#- Every feature of every feature view, as declared in the views' yml (read from dbt's graph):
    its description, entity, ttl, owner and the raw sources it is computed from. -#}
{%- set rows = [] %}
{%- if execute %}
    {%- for node in graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') | sort(attribute='name') %}
        {%- set meta = node.config.meta.get('keel', {}) %}
        {%- if meta.get('features') and meta.get('entity') %}
            {%- set sources = upstream_sources(node.unique_id) | join(', ') %}
            {%- for feature in meta.features %}
                {%- do rows.append([node.name, feature, node.columns.get(feature, {}).get('description', ''),
                    meta.entity, meta.ttl, meta.get('owner', ''), sources]) %}
            {%- endfor %}
        {%- endif %}
    {%- endfor %}
{%- endif %}

with catalog as (
    {%- for r in rows %}
        select
            {{ sql_string(r[0]) }} as feature_view,
            {{ sql_string(r[1]) }} as feature,
            {{ sql_string(r[2]) }} as description,
            {{ sql_string(r[3]) }} as entity,
            {{ sql_string(r[4]) }} as ttl,
            {{ sql_string(r[5]) }} as owner,
            {{ sql_string(r[6]) }} as upstream_sources
        {{ 'union all' if not loop.last }}
    {%- else %}
        select
            cast(null as varchar) as feature_view,
            cast(null as varchar) as feature,
            cast(null as varchar) as description,
            cast(null as varchar) as entity,
            cast(null as varchar) as ttl,
            cast(null as varchar) as owner,
            cast(null as varchar) as upstream_sources
        where false
    {%- endfor %}
)

select * from catalog
