{#- Building blocks of incremental feature views. -#}

{#- The first day an incremental feature model must recompute: the earliest day touched by
    upstream rows newer than this model's watermark (`loaded_through_batch`, the last raw batch
    it has seen). Recomputing from that day on, rather than appending only new days, keeps late
    data correct; in the usual case (a new day of logs) it is just that day, so a run costs work
    proportional to the new data, not to history.

    Returns none on a full build (compute everything) and '9999-12-31' when nothing is new. -#}
{% macro refresh_from_day(upstream, day_expr, upstream_watermark) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select cast(min({{ day_expr }}) as varchar)
        from {{ upstream }}
        where {{ upstream_watermark }} > (select coalesce(max(loaded_through_batch), -1) from {{ this }})
    {%- endset -%}
    {%- set first_day = run_query(query).columns[0].values()[0] -%}
    {{ return(first_day or '9999-12-31') }}
{%- endmacro %}

{#- Sum of `expr` over the `days` days ending on the row's day, whatever days have no row:
    a range frame over an integer day number (portable, unlike interval frames). -#}
{% macro trailing_sum(expr, days, entity) -%}
    sum({{ expr }}) over (
        partition by {{ entity }} order by day_number
        range between {{ days - 1 }} preceding and current row
    )
{%- endmacro %}

{#- Days since 1970-01-01, for range frames and day arithmetic on any engine. -#}
{% macro day_number(day_expr) -%}
    {{ dbt.datediff("cast('1970-01-01' as date)", day_expr, 'day') }}
{%- endmacro %}

{#- 0, 1, ..., n - 1 as rows of column `offset_days`, without engine-specific generators. -#}
{% macro day_offsets(n) -%}
    {%- for k in range(n) %}
    select {{ k }} as offset_days{{ ' union all' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- Every (entity, day_number) from each active day to `days` - 1 days after it, up to the last
    day with data and, on incremental runs, from `first_day_number` on: the rows of a dense daily
    feature view. `activity` has entity and day_number, one row per active day.

    Each active day covers the days until the next active day or `days` later, whichever comes
    first, so covers never overlap and no distinct is needed: the rows generated are exactly the
    rows wanted (a naive active-day x offsets cross join makes `days` times as many, then
    de-duplicates them). -#}
{% macro activity_grid(activity, entity, days, last_day_number, first_day_number=none) -%}
    select
        r.{{ entity }},
        r.day_number + o.offset_days as day_number
    from (
        select
            {{ entity }},
            day_number,
            least(
                coalesce(lead(day_number) over (partition by {{ entity }} order by day_number) - 1,
                    day_number + {{ days - 1 }}),
                day_number + {{ days - 1 }},
                {{ last_day_number }}
            ) as cover_end
        from {{ activity }}
    ) as r
    cross join ({{ day_offsets(days) }}) as o
    where
        r.day_number + o.offset_days <= r.cover_end
    {%- if first_day_number is not none %}
            and r.day_number + o.offset_days >= {{ first_day_number }}
    {%- endif %}
{%- endmacro %}

{#- The rows of `relation` (`keys`, day_number) that windows ending on or after day
    `first_day_number` can need: those on or after it and, of the ones before it, only the last
    per `keys` (an older day is in such a window only when the last one is too). All rows when
    `first_day_number` is none (a full build). -#}
{% macro days_for_windows_from(relation, keys, first_day_number) -%}
    {%- set columns = keys | join(', ') %}
    {%- if first_day_number is none %}
        select
            {{ columns }},
            day_number
        from {{ relation }}
    {%- else %}
        select
            {{ columns }},
            max(day_number) as day_number
        from {{ relation }}
        where day_number < {{ first_day_number }}
        group by {{ columns }}
        union all
        select
            {{ columns }},
            day_number
        from {{ relation }}
        where day_number >= {{ first_day_number }}
    {%- endif %}
{%- endmacro %}

{#- A feature view's timestamp for a day: the end of that day (the next midnight, UTC). -#}
{% macro end_of_day_number(day_number) -%}
    {{ dbt.dateadd('day', day_number ~ ' + 1', "cast('1970-01-01' as timestamp)") }}
{%- endmacro %}

{#- Sums of `measures` over trailing time windows, per entity, at each instant an entity has
    events: one row per (entity, `ts`) of `relation` (which must be unique on them; aggregate
    first), with `<measure>_<window>` for each window name in `windows` ({name: seconds}). A
    window ending at t holds the events with ts in (t - seconds, t]: a range frame over epoch
    seconds, so instants without events cost nothing and no event after t is ever counted. -#}
{% macro trailing_window_sums(relation, entity, ts, measures, windows) -%}
    select
        {{ entity }},
        {{ ts }}
    {%- for name, seconds in windows.items() %}
        {%- for m in measures %},
        sum({{ m }}) over (
            partition by {{ entity }} order by {{ epoch_seconds(ts) }}
            range between {{ seconds - 1 }} preceding and current row
        ) as {{ m }}_{{ name }}
        {%- endfor %}
    {%- endfor %}
    from {{ relation }}
{%- endmacro %}
