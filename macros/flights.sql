-- Macros that generate SQL per item: sqlfluff renders them without their arguments, where the
-- layout cannot be judged.
-- noqa: disable=LT02
{#- The flights use case's one piece of shared SQL: the trailing delay rates of one kind of
    entity (carrier or route) from flight_delays_landed, at each instant one of its flights
    landed. A rate over a window is null when nothing landed in it. -#}
{% macro trailing_delay_rates(entity) -%}
    {%- set windows = {'1d': 86400, '7d': 604800} %}
    with landed as (
        select
            entity_key as {{ entity }},
            landed_at as feature_ts,
            landed,
            delayed_15,
            arr_delay_minutes
        from {{ ref('flight_delays_landed') }}
        where entity_kind = '{{ entity }}'
    ),

    windowed as (
        {{ trailing_window_sums('landed', entity, 'feature_ts', ['landed', 'delayed_15', 'arr_delay_minutes'],
            windows) }}
    ),

    final as (
        select
            {{ entity }},
            feature_ts
            {%- for name in windows %},
                cast(landed_{{ name }} as bigint) as {{ entity }}_landed_{{ name }},
                cast(delayed_15_{{ name }} as double)
                / nullif(landed_{{ name }}, 0) as {{ entity }}_delay_rate_{{ name }},
                arr_delay_minutes_{{ name }}
                / nullif(landed_{{ name }}, 0) as {{ entity }}_mean_arr_delay_{{ name }}
            {%- endfor %}
        from windowed
    )

    select * from final
{%- endmacro %}
