{#- JSON access, behind adapter.dispatch: DuckDB parses a record once for many paths; the portable
    default (Spark SQL's get_json_object) reads each path on its own. -#}

{#- True when `expr` is well-formed JSON. -#}
{% macro json_is_valid(expr) -%}
    {{ return(adapter.dispatch('json_is_valid', 'keel')(expr)) }}
{%- endmacro %}

{% macro duckdb__json_is_valid(expr) -%}
    json_valid({{ expr }})
{%- endmacro %}

{% macro default__json_is_valid(expr) -%}
    (get_json_object({{ expr }}, '$') is not null)
{%- endmacro %}

{#- The text at each JSONPath in `paths`, as one array; read element i (1-based) with json_field. -#}
{% macro json_strings(expr, paths) -%}
    {{ return(adapter.dispatch('json_strings', 'keel')(expr, paths)) }}
{%- endmacro %}

{% macro duckdb__json_strings(expr, paths) -%}
    json_extract_string({{ expr }}, [{% for p in paths %}'{{ p }}'{{ ", " if not loop.last }}{% endfor %}])
{%- endmacro %}

{% macro default__json_strings(expr, paths) -%}
    array({% for p in paths %}get_json_object({{ expr }}, '{{ p }}'){{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}

{% macro json_field(array_expr, position) -%}
    {{ return(adapter.dispatch('json_field', 'keel')(array_expr, position)) }}
{%- endmacro %}

{% macro duckdb__json_field(array_expr, position) -%}
    {{ array_expr }}[{{ position }}]
{%- endmacro %}

{% macro default__json_field(array_expr, position) -%}
    {{ array_expr }}[{{ position - 1 }}]
{%- endmacro %}

{#- One row per element of a JSON array of objects, yielding each object's `key` as text (used in
    a select list: a set-returning expression). -#}
{% macro json_array_values(expr, key) -%}
    {{ return(adapter.dispatch('json_array_values', 'keel')(expr, key)) }}
{%- endmacro %}

{% macro duckdb__json_array_values(expr, key) -%}
    unnest(json_extract_string({{ expr }}, '$[*].{{ key }}'))
{%- endmacro %}

{% macro default__json_array_values(expr, key) -%}
    explode(from_json({{ expr }}, 'array<struct<{{ key }}:string>>').{{ key }})
{%- endmacro %}

{#- One row per top-level member of the JSON object `expr`, as two select-list columns named
    `key_name` (the member's key) and `value_name` (its value as JSON text, null when the value is
    JSON null). Anything that is not an object yields no rows; `expr` must be valid JSON (guard
    with json_is_valid). A key repeated within one object yields one row per occurrence.
    On Spark a repeated key fails unless spark.sql.mapKeyDedupPolicy is LAST_WIN. -#}
{% macro json_members(expr, key_name, value_name) -%}
    {{ return(adapter.dispatch('json_members', 'keel')(expr, key_name, value_name)) }}
{%- endmacro %}

{#- Two unnests of lists of equal length in one select list are zipped row by row. -#}
{% macro duckdb__json_members(expr, key_name, value_name) -%}
    unnest(json_keys({{ expr }})) as {{ key_name }},
    nullif(cast(unnest(json_extract({{ expr }}, '$.*')) as varchar), 'null') as {{ value_name }}
{%- endmacro %}

{% macro default__json_members(expr, key_name, value_name) -%}
    explode(from_json({{ expr }}, 'map<string,string>')) as ({{ key_name }}, {{ value_name }})
{%- endmacro %}
