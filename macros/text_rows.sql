{#- Rows gathered in Jinja (lists of values, in `columns` order) as a relation of text columns;
    an empty, typed relation when there are none. -#}
{% macro text_rows(rows, columns) -%}
{%- for r in rows %}
select
{%- for c in columns %}
    {{ sql_string(r[loop.index0]) }} as {{ c }}{{ ',' if not loop.last }}
    {%- endfor %}
{{ 'union all' if not loop.last }}
{%- else %}
select
{%- for c in columns %}
    cast(null as varchar) as {{ c }}{{ ',' if not loop.last }}
{%- endfor %}
where false
{%- endfor %}
{%- endmacro %}
