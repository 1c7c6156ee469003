{#- Building blocks of incremental feature views. -#}

{#- The first day an incremental feature model must recompute: the earliest day touched by
    upstream rows newer than this model's watermark (`loaded_through_batch`, the last raw batch
    it has seen). Recomputing from that day on, rather than appending only new days, keeps late
    data correct; in the usual case (a new day of logs) it is just that day, so a run costs work
    proportional to the new data, not to history.

    Returns none on a full build (compute everything) and '9999-12-31' when nothing is new.
    `day_expr` may be any time column of the upstream (an incremental training set gives its
    spine's as_of). -#}
{% macro refresh_from_day(upstream, day_expr, upstream_watermark) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ require_watermark_column() }}
    {%- set query -%}
        select cast(min({{ day_expr }}) as {{ dbt.type_string() }})
        from {{ upstream }}
        where {{ upstream_watermark }} > (select coalesce(max(loaded_through_batch), -1) from {{ this }})
    {%- endset -%}
    {%- set first_day = run_query(query).columns[0].values()[0] -%}
    {{ return(first_day or '9999-12-31') }}
{%- endmacro %}

{#- A table built before its model kept a watermark (before it became incremental, say): say how
    to rebuild it, rather than fail on a missing column. -#}
{% macro require_watermark_column() -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- if 'loaded_through_batch' not in columns -%}
        {{ exceptions.raise_compiler_error(
            this ~ " has no loaded_through_batch column (it was built before its model kept one): "
            ~ "rebuild it once with `keel dbt build --select " ~ model.name ~ "+ --full-refresh`") }}
    {%- endif -%}
{%- endmacro %}

{#- The days an incremental run of a dense daily feature view (one row per entity per day,
    timestamp `feature_ts`, watermark `loaded_through_batch`) writes, as day numbers
    {'first': ..., 'last': ...}: from the earliest day touched by upstream rows newer than its
    watermark, or the day after its last row if that is earlier (a day without any upstream row
    still has rows, and the run that could write it may not have had it yet), through the
    upstream's last day. No days (first > last) when nothing is new; none on a full build. -#}
{% macro days_to_write(upstream, day_expr) -%}
    {%- set refresh_from = refresh_from_day(upstream, day_expr, 'loaded_through_batch') -%}
    {%- if refresh_from is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select
            least(
                {{ day_number("cast('" ~ refresh_from ~ "' as date)") }},
                {{ day_number('cast(max(feature_ts) as date)') }}
            ),
            (select {{ day_number('max(' ~ day_expr ~ ')') }} from {{ upstream }})
        from {{ this }}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- set first = row[0] | int -%}
    {{ return({'first': first, 'last': (first - 1 if row[1] is none else row[1]) | int}) }}
{%- endmacro %}

{#- Day number `n` as a date literal: a constant the engine can prune stored blocks by. -#}
{% macro date_of_day_number(n) -%}
    cast('{{ (modules.datetime.date(1970, 1, 1) + modules.datetime.timedelta(days=n)).isoformat() }}' as date)
{%- endmacro %}

{#- Which days a dense daily feature view reads of its daily inputs, as a condition on
    `day_column`: all on a full build; on an incremental run, the `window` - 1 days of context
    before `first_day_number` and all after; or, given `ranges` [(after, through), ...] of day
    numbers, only the days in them. Date literals, so the engine can skip stored blocks. -#}
{% macro days_read(day_column, first_day_number, window, ranges=none) -%}
    {%- set conditions = [] -%}
    {%- for after, through in ranges or [] -%}
        {%- do conditions.append(
            '(' ~ day_column ~ ' > ' ~ date_of_day_number(after)
            ~ ' and ' ~ day_column ~ ' <= ' ~ date_of_day_number(through) ~ ')') -%}
    {%- endfor -%}
    {%- if first_day_number is not none and not ranges -%}
        {%- do conditions.append(day_column ~ ' >= ' ~ date_of_day_number(first_day_number - window + 1)) -%}
    {%- endif -%}
    {{ conditions | join(' or ') or 'true' }}
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

{#- A feature view's timestamp for a day: the end of that day (the next midnight, UTC). -#}
{% macro end_of_day_number(day_number) -%}
    {{ dbt.dateadd('day', day_number ~ ' + 1', "cast('1970-01-01' as timestamp)") }}
{%- endmacro %}

{#- Sums of `measures` over trailing time windows, per entity, at each instant an entity has
    events: one row per (entity, `ts`) of `relation` (which must be unique on them; aggregate
    first), with `<measure>_<window>` for each window name in `windows` ({name: seconds}). A
    window ending at t holds the events with ts in (t - seconds, t]: a range frame over epoch
    microseconds, so instants without events cost nothing, no event after t is ever counted, and
    the edge is exact whatever the timestamps' precision. -#}
{% macro trailing_window_sums(relation, entity, ts, measures, windows) -%}
    select
        {{ entity }},
        {{ ts }}
    {%- for name, seconds in windows.items() %}
        {%- for m in measures %},
        sum({{ m }}) over (
            partition by {{ entity }} order by {{ epoch_microseconds(ts) }}
            range between {{ seconds * 1000000 - 1 }} preceding and current row
        ) as {{ m }}_{{ name }}
        {%- endfor %}
    {%- endfor %}
    from {{ relation }}
{%- endmacro %}
