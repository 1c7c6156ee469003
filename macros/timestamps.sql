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

{#- A wall-clock time in the IANA time zone `zone_expr` (e.g. 'America/Chicago') to UTC, and back.
    In the hour a daylight-saving change repeats, the engine picks one of the two instants. -#}
{% macro local_to_utc(expr, zone_expr) -%}
    {{ return(adapter.dispatch('local_to_utc', 'keel')(expr, zone_expr)) }}
{%- endmacro %}

{% macro duckdb__local_to_utc(expr, zone_expr) -%}
    timezone('UTC', timezone({{ zone_expr }}, {{ expr }}))
{%- endmacro %}

{% macro default__local_to_utc(expr, zone_expr) -%}
    to_utc_timestamp({{ expr }}, {{ zone_expr }})
{%- endmacro %}

{% macro utc_to_local(expr, zone_expr) -%}
    {{ return(adapter.dispatch('utc_to_local', 'keel')(expr, zone_expr)) }}
{%- endmacro %}

{% macro duckdb__utc_to_local(expr, zone_expr) -%}
    timezone({{ zone_expr }}, timezone('UTC', {{ expr }}))
{%- endmacro %}

{% macro default__utc_to_local(expr, zone_expr) -%}
    from_utc_timestamp({{ expr }}, {{ zone_expr }})
{%- endmacro %}

{#- Microseconds since the Unix epoch of a UTC timestamp, as an integer, for range frames over
    time on any engine: exact at the timestamps' own precision (seconds as a double, or truncated
    to whole seconds, would move a window's edge by up to a second). -#}
{% macro epoch_microseconds(expr) -%}
    {{ return(adapter.dispatch('epoch_microseconds', 'keel')(expr)) }}
{%- endmacro %}

{% macro duckdb__epoch_microseconds(expr) -%}
    epoch_us({{ expr }})
{%- endmacro %}

{% macro default__epoch_microseconds(expr) -%}
    unix_micros({{ expr }})
{%- endmacro %}
