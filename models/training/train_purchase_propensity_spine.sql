{#- Who we would have scored, when, and what happened next: one row per user per as-of time
    (a midnight, UTC) at which the user had been active in the `propensity_active_days` before,
    labelled 1 if they purchased within (as_of, as_of + `propensity_label_days`]. Only as-of
    times whose label window has closed (events at least that recent have arrived, and been
    ingested: see labels_known_until) are kept, so a 0 always means "did not buy", never "not
    known yet". As-of times start once the logs cover `propensity_warmup_days` (the feature
    window): earlier rows would have truncated trailing windows, a distribution nothing scored
    later ever has. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['user_id', 'as_of'],
        on_schema_change='fail',
    )
}}
{%- set active_days = var('propensity_active_days') %}
{%- set label_days = var('propensity_label_days') %}
{%- set warmup_days = var('propensity_warmup_days') %}
{#- Incremental: recomputes the as-of times from `refresh_from` on (macros/training.sql), reading
    the activity and purchases those need. -#}
{%- set refresh_from = spine_refresh_from(ref('stg_events'), 'cast(event_ts as date)', label_days) %}
{%- set first_as_of = "cast('" ~ refresh_from ~ "' as timestamp)" if refresh_from %}
{#- the first day whose as-of time (the midnight ending it) is written -#}
{%- set first_day = day_number('cast(w.first_event_ts as date)') ~ ' + ' ~ (warmup_days - 1) %}
{%- if refresh_from %}
    {%- set first_day = 'greatest(' ~ first_day ~ ', ' ~ day_number('cast(' ~ first_as_of ~ ' as date)') ~ ' - 1)' %}
{%- endif %}

with activity as (
    select
        user_id,
        {{ day_number('activity_day') }} as day_number
    from {{ ref('user_activity_daily') }}
    {%- if refresh_from %}
        -- the active days whose `active_days` reach an as-of time written
        where activity_day >= cast({{ dbt.dateadd('day', -active_days, first_as_of) }} as date)
    {%- endif %}
),

purchases as (
    select
        user_id,
        event_ts
    from {{ ref('stg_events') }}
    where event_name = 'purchase'
    {%- if refresh_from %}
        and event_ts > {{ first_as_of }}
    {%- endif %}
),

watermark as (
    select
        min(event_ts) as first_event_ts,
        -- the clock that closes label windows: the newest event, but never past the newest
        -- ingestion. A producer's clock may run ahead of ingestion (by up to
        -- max_future_skew_hours, which staging accepts); its events alone would close windows
        -- whose purchases have yet to arrive. Logs loaded after the fact (a backfill) keep the
        -- newest event as the clock.
        least(max(event_ts), coalesce(max(ingested_at), max(event_ts))) as labels_known_until,
        -- the older of its inputs' watermarks (macros/training.sql)
        least(
            max(batch_id),
            (select max(a.loaded_through_batch) from {{ ref('user_activity_daily') }} as a)
        ) as loaded_through_batch
    from {{ ref('stg_events') }}
),

-- the days from each active day to `active_days` - 1 days after it (a user's dense days)
active_spans as (
    {{ activity_grid('activity', 'user_id', active_days,
        '(select ' ~ day_number('cast(w.labels_known_until as date)') ~ ' from watermark as w)',
        '(select ' ~ first_day ~ ' from watermark as w)') }}
),

-- an as-of time is the midnight ending each of those days
as_of_times as (
    select
        user_id,
        {{ end_of_day_number('day_number') }} as as_of
    from active_spans
),

closed as (
    select t.*
    from as_of_times as t
    cross join watermark as w
    where {{ dbt.dateadd('day', label_days, 't.as_of') }} <= w.labels_known_until
),

labelled as (
    select
        c.user_id,
        c.as_of,
        max(case when p.user_id is not null then 1 else 0 end) as label
    from closed as c
    left join purchases as p
        on
            c.user_id = p.user_id
            and c.as_of < p.event_ts
            and p.event_ts <= {{ dbt.dateadd('day', label_days, 'c.as_of') }}
    group by c.user_id, c.as_of
),

final as (
    select
        l.user_id,
        l.as_of,
        cast(l.label as integer) as label,
        w.loaded_through_batch
    from labelled as l
    cross join watermark as w
)

select * from final
