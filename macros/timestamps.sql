{#- Timestamps are stored as UTC `timestamp` (no time zone) on every engine. -#}

{#- ISO-8601 text, with or without an offset, to UTC; null when it does not parse. -#}
{% macro iso_to_utc(expr) -%}
    {{ return(adapter.dispatch('iso_to_utc', 'keel')(expr)) }}
{%- endmacro %}

{% macro duckdb__iso_to_utc(expr) -%}
    timezone('UTC', try_cast({{ expr }} as timestamptz))
{%- endmacro %}

{% macro default__iso_to_utc(expr) -%}
    to_utc_timestamp(to_timestamp({{ expr }}), 'UTC')
{%- endmacro %}

{#- Integer microseconds since the Unix epoch to a UTC timestamp. -#}
{% macro epoch_us_to_utc(expr) -%}
    {{ return(adapter.dispatch('epoch_us_to_utc', 'keel')(expr)) }}
{%- endmacro %}

{% macro duckdb__epoch_us_to_utc(expr) -%}
    make_timestamp({{ expr }})
{%- endmacro %}

{% macro default__epoch_us_to_utc(expr) -%}
    timestamp_micros({{ expr }})
{%- endmacro %}
