{#- Building blocks of incremental training sets. -#}

{#- The first as-of time (a midnight, as text) an incremental run of a labelled spine must
    recompute; none on a full build (compute every as-of time).

    A spine row (entity, as_of, label) depends on the activity before as_of (who was active)
    and on the events in the `label_days` after it (the label), and exists once its label window
    has closed. Its watermark is the older of its two inputs' (stg_events, and the daily activity
    model it reads), so that a run whose activity lagged the events is made up by the next. So a run recomputes every as_of from the earlier of:
    - `label_days` before the first day touched by events newer than the spine's watermark
      (`loaded_through_batch`): a late event changes labels up to that far back, and activity
      only after it;
    - the day after the spine's newest as_of: as-of times whose label window the new events
      closed (after a gap in the logs, they may lie further back than the first).
    Late events only ever add activity and purchases, so the rows a run recomputes are a superset
    of those it replaces (delete+insert on the spine's key). A new day of logs costs that day and
    its windows, not the history. -#}
{% macro spine_refresh_from(events, event_day, label_days) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ require_watermark_column() }}
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

{#- The first as-of time (as text) an incremental run of a training set recomputes: the
    earliest of the spine rows its spine rewrote since the training set's own watermark (the spine
    rewrites every as-of time from some point on, and stamps each row with its watermark; the
    training set stamps its rows with the older of that and its feature view's, so that rows
    joined to a lagging view are joined again); '9999-12-31' when none was; none on a full build. -#}
{% macro spine_rewritten_since(spine) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ require_watermark_column() }}
    {%- set query -%}
        select cast(min(as_of) as {{ dbt.type_string() }})
        from {{ spine }}
        where loaded_through_batch > (select coalesce(max(loaded_through_batch), -1) from {{ this }})
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0] or '9999-12-31') }}
{%- endmacro %}

{#- A table built before the model became incremental has no watermark: say how to rebuild it,
    rather than fail on a missing column. -#}
{% macro require_watermark_column() -%}
    {%- if execute -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {%- if 'loaded_through_batch' not in columns -%}
            {{ exceptions.raise_compiler_error(
                this ~ " was built before it became incremental: rebuild it once with "
                ~ "`keel dbt build --select " ~ model.name ~ "+ --full-refresh`") }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
