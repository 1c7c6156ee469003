{#- Cast that yields null instead of failing, so a bad value can be quarantined rather than abort
    the run. dbt's own safe_cast is a plain cast on DuckDB, hence this one. -#}
{% macro try_cast_as(expr, type) -%}
    {{ return(adapter.dispatch('try_cast_as', 'keel')(expr, type)) }}
{%- endmacro %}

{% macro duckdb__try_cast_as(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}

{#- Spark SQL (ANSI mode off, its default) and most engines already give null on a failed cast. -#}
{% macro default__try_cast_as(expr, type) -%}
    cast({{ expr }} as {{ type }})
{%- endmacro %}
