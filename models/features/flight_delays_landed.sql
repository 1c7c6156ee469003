{#- One row per carrier or route and landing instant: how many of its flights landed then, how
    many of them late (delayed_15) (arrival delay over 15 minutes), and their total arrival delay. The
    trailing-rate views (fv_carrier_delays, fv_route_delays) are built over it, so they count a
    flight only from the instant it landed. -#}
with landed as (
    select
        carrier,
        route,
        landed_at,
        arr_delay
    from {{ ref('flight_outcomes') }}
    where landed_at is not null
),

by_entity as (
    {%- for entity in ['carrier', 'route'] %}
        select
            '{{ entity }}' as entity_kind,
            {{ entity }} as entity_key,
            landed_at,
            count(*) as landed,
            count(case when arr_delay > 15 then 1 end) as delayed_15,
            sum(arr_delay) as arr_delay_minutes
        from landed
        group by {{ entity }}, landed_at
        {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select * from by_entity
