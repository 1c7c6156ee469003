{#- One row per integer from `first` to `last` inclusive, as a set-returning select-list
    expression: dense grids of day numbers whose bounds come from the data. -#}
{% macro integer_series(first, last) -%}
    {{ return(adapter.dispatch('integer_series', 'keel')(first, last)) }}
{%- endmacro %}

{% macro duckdb__integer_series(first, last) -%}
    unnest(range({{ first }}, {{ last }} + 1))
{%- endmacro %}

{% macro default__integer_series(first, last) -%}
    explode(sequence({{ first }}, {{ last }}))
{%- endmacro %}
