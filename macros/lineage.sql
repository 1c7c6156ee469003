{#- The sources (schema.table) a node reads, directly or through other models, from dbt's graph. -#}
{% macro upstream_sources(unique_id, seen=none) -%}
    {%- set seen = seen if seen is not none else [] -%}
    {%- set found = [] -%}
    {%- set node = graph.nodes.get(unique_id) -%}
    {%- for parent in (node.depends_on.nodes if node else []) -%}
        {%- if parent not in seen -%}
            {%- do seen.append(parent) -%}
            {%- if parent.startswith('source.') -%}
                {%- set source = graph.sources[parent] -%}
                {%- do found.append(source.source_name ~ '.' ~ source.name) -%}
            {%- else -%}
                {%- do found.extend(upstream_sources(parent, seen)) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found | unique | sort) }}
{%- endmacro %}

{#- A string literal, quotes escaped; none is a null. -#}
{% macro sql_string(value) -%}
    {%- if value is none -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        '{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}
