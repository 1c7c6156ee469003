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
    {{ text_rows(rows, ['feature_view', 'feature', 'description', 'entity', 'ttl', 'owner', 'upstream_sources']) }}
)

select * from catalog
