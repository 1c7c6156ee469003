{#- Building blocks of incremental training sets. -#}

{#- The first as-of time (a midnight, as text) an incremental run of a labelled spine must
    recompute; none on a full build (compute every as-of time).

    A spine row (entity, as_of, label) depends on the activity before as_of (who was active)
    and on the events in the `label_days` after it (the label), and exists once its label window
    has closed. Its watermark is the older of its two inputs' (stg_events, and the daily activity
    model it reads), so that a run whose activity lagged the events is made up by the next. So a
    run recomputes every as_of from the earlier of:
    - `label_days` before the first day touched by events newer than the spine's watermark
      (`loaded_through_batch`): a late event changes labels up to that far back, and activity
      only after it;
    - the day after the spine's newest as_of: as-of times whose label window the new events
      closed (after a gap in the logs, they may lie further back than the first).
    Late events only ever add activity and purchases, so the rows a run recomputes are a superset
    of those it replaces (delete+insert on the spine's key). A new day of logs costs the as-of
    times it touches and their windows. -#}
{% macro spine_refresh_from(events, event_day, label_days) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set first_day = refresh_from_day(events, event_day, 'batch_id') -%}
    {%- set query -%}
        select cast(least(
            {{ dbt.dateadd('day', -label_days, "cast('" ~ first_day ~ "' as timestamp)") }},
            coalesce(
                {{ dbt.dateadd('day', 1, 'max(as_of)') }},
                cast('1900-01-01' as timestamp)
            )
        ) as {{ dbt.type_string() }})
        from {{ this }}
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{%- endmacro %}
