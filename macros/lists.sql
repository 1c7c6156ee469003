{#- One row per position of a row's parallel lists (as DuckDB's unnest of several lists in one
    select, which pads the shorter ones, a null list included, with nulls): `keep` are the columns
    to repeat, `lists` the list columns, each unnested into a column of the same name. -#}
{% macro unnest_parallel(relation, keep, lists) -%}
    {{ return(adapter.dispatch('unnest_parallel', 'keel')(relation, keep, lists)) }}
{%- endmacro %}

{% macro duckdb__unnest_parallel(relation, keep, lists) -%}
    select
        {{ keep | join(", ") }},
        {% for column in lists %}unnest({{ column }}) as {{ column }}{{ ", " if not loop.last }}{% endfor %}
    from {{ relation }}
{%- endmacro %}

{#- Portable (Spark): explode the positions of the first list, which must be the longest (a null
    list among the others gives nulls, as element_at of a null array does). -#}
{% macro default__unnest_parallel(relation, keep, lists) -%}
    select
        r.{{ keep | join(", r.") }},
        {% for column in lists %}element_at(r.{{ column }}, p.position + 1) as {{ column }}{{ ", " if not loop.last }}{% endfor %}
    from {{ relation }} as r
    lateral view posexplode(r.{{ lists[0] }}) p as position, element
{%- endmacro %}
