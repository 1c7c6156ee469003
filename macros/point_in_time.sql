{#- Point-in-time join: feature values as they were known at each spine row's time.

    point_in_time_join(spine, timestamp, features)
      spine      a relation (or CTE name) with one column per feature view entity (named as the
                 view's `entity`) and a time column
      timestamp  the spine's time column
      features   a list of 'view' (all of its features) or 'view:feature'; an item may also
                 be an ad-hoc view, {relation, entity, timestamp, ttl, features}, for a relation
                 that is not a declared feature view (benchmarks, one-off analyses)

    One output row per spine row (spine columns first, then the features in the order asked),
    never fewer: a spine row without a match gets nulls. For each view the match is the latest
    feature row of the same entity with `timestamp - ttl <= feature_ts <= timestamp`, both ends
    inclusive (Feast's rule): a row stamped exactly at the spine time is used, a future one
    never, one older than the view's ttl never.

    Ties (several rows of one entity at the same feature_ts) are broken by the values: the row
    with the largest first declared feature wins, then the second, and so on, nulls lowest. The
    order uses every feature the view declares, not just those asked for, so asking for a subset
    never changes a value. Keel's own views are unique on (entity, feature_ts), which their tests
    check, so ties only arise in views built elsewhere. -#}
{% macro point_in_time_join(spine, timestamp, features) -%}
    {%- set views = feature_views(features) %}
    {#- var portable_point_in_time_join: run the portable fallback on any engine (tests compare it
        with the engine's own). -#}
    {%- set candidates = default__pit_candidates if var('portable_point_in_time_join', false)
        else adapter.dispatch('pit_candidates', 'keel') %}
    with
    {%- for v in views %}
        {%- set i = loop.index %}
        pit_keys_{{ i }} as (
            -- each distinct (entity, time) is looked up once, however many spine rows share it
            select distinct
                {{ v.entity }} as entity_key,
                {{ timestamp }} as spine_ts
            from {{ spine }}
        ),

        pit_candidates_{{ i }} as (
            {{ candidates('pit_keys_' ~ i, v) }}
        ),

        pit_ranked_{{ i }} as (
            select
                *,
                row_number() over (
                    partition by entity_key, spine_ts
                    order by feature_ts desc
        {%- for f in v.all_features %}, {{ f }} desc nulls last{% endfor %}
                ) as pit_rank
            from pit_candidates_{{ i }}
        ),

        pit_latest_{{ i }} as (
            select * from pit_ranked_{{ i }} where pit_rank = 1
        ),
    {%- endfor %}

    pit_result as (
        select
            spine.*
    {%- for v in views %}
        {%- set i = loop.index %}
        {%- for f in v.features %},
                pit_view_{{ i }}.{{ f }}
        {%- endfor %}
    {%- endfor %}
        from {{ spine }} as spine
    {%- for v in views %}
        {%- set i = loop.index %}
            left join pit_latest_{{ i }} as pit_view_{{ i }}
                on
                    spine.{{ v.entity }} = pit_view_{{ i }}.entity_key
                    and spine.{{ timestamp }} = pit_view_{{ i }}.spine_ts
    {%- endfor %}
    )

    select * from pit_result
{%- endmacro %}

{#- Candidate feature rows for each key of `keys` (entity_key, spine_ts): at least the latest row
    within the ttl; more only when it is tied. Columns: entity_key, spine_ts, feature_ts and
    every feature of the view. -#}

{#- DuckDB: an ASOF JOIN finds each key's latest feature time, then the rows at exactly that time
    are fetched by equality, ties included. The view is first cut down to rows some key could
    use (its entity, within that entity's span of spine times less the ttl): one hash join over
    the view, which keeps the ASOF sort to the rows that matter (measured in bench/). -#}
{% macro duckdb__pit_candidates(keys, view) -%}
    with pit_bounds as (
        select
            entity_key,
            min(spine_ts) as first_ts,
            max(spine_ts) as last_ts
        from {{ keys }}
        group by entity_key
    ),

    pit_rows as materialized (
        select
            f.{{ view.entity }} as entity_key,
            f.{{ view.timestamp }} as feature_ts
    {%- for c in view.all_features %},
                f.{{ c }}
    {%- endfor %}
        from {{ view.relation }} as f
        inner join pit_bounds as b
            on
                f.{{ view.entity }} = b.entity_key
                and f.{{ view.timestamp }} <= b.last_ts
                and f.{{ view.timestamp }} >= {{ dbt.dateadd('second', -view.ttl_seconds, 'b.first_ts') }}
    ),

    pit_matches as (
        select
            k.entity_key,
            k.spine_ts,
            r.feature_ts as matched_ts
        from {{ keys }} as k
        asof inner join (select entity_key, feature_ts from pit_rows) as r
            on
                k.entity_key = r.entity_key
                and k.spine_ts >= r.feature_ts
    )

    select
        m.entity_key,
        m.spine_ts,
        r.feature_ts
    {%- for c in view.all_features %},
            r.{{ c }}
    {%- endfor %}
    from pit_matches as m
    inner join pit_rows as r
        on
            m.entity_key = r.entity_key
            and m.matched_ts = r.feature_ts
    where m.matched_ts >= {{ dbt.dateadd('second', -view.ttl_seconds, 'm.spine_ts') }}
{%- endmacro %}

{#- Any engine: every feature row in the window, by a join on the entity with a range condition. -#}
{% macro default__pit_candidates(keys, view) -%}
    select
        k.entity_key,
        k.spine_ts,
        f.{{ view.timestamp }} as feature_ts
    {%- for f in view.all_features %},
        f.{{ f }}
    {%- endfor %}
    from {{ keys }} as k
    inner join {{ view.relation }} as f
        on
            k.entity_key = f.{{ view.entity }}
            and f.{{ view.timestamp }} <= k.spine_ts
            and f.{{ view.timestamp }} >= {{ dbt.dateadd('second', -view.ttl_seconds, 'k.spine_ts') }}
{%- endmacro %}

{#- The feature views behind a list of 'view' / 'view:feature' names, read from each model's
    `meta.keel` in the manifest: [{name, relation, entity, timestamp, ttl_seconds, features
    (asked for), all_features (declared)}], in the order first asked for.

    ref() is called while dbt parses, so a model using this depends on its views; the manifest is
    read only at execution time, when it exists. with_relations=false leaves `relation` out and
    calls no ref(): for models that only need the views' metadata (no depends_on hints). -#}
{% macro feature_views(requested, with_relations=true) -%}
    {%- set views = [] -%}
    {%- set by_name = {} -%}
    {%- set seen_features = {} -%}
    {%- for item in requested -%}
        {%- if item is mapping -%}
            {#- an ad-hoc view (a relation not declared as a feature view): all keys given -#}
            {%- do views.append({
                'name': item.relation | string, 'relation': item.relation, 'entity': item.entity,
                'timestamp': item.timestamp, 'ttl_seconds': ttl_seconds(item.ttl, item.relation),
                'all_features': item.features, 'features': item.features}) -%}
        {%- else -%}
            {%- set parts = item.split(':') -%}
            {%- set name = parts[0] -%}
            {%- if name not in by_name -%}
                {%- set meta = feature_view_meta(name) -%}
                {%- do by_name.update({name: {
                    'name': name,
                    'relation': ref(name) if with_relations else none,
                    'entity': meta.entity,
                    'timestamp': meta.timestamp,
                    'ttl_seconds': ttl_seconds(meta.ttl, name),
                    'all_features': meta.features,
                    'features': [],
                }}) -%}
                {%- do views.append(by_name[name]) -%}
            {%- endif -%}
            {%- set view = by_name[name] -%}
            {%- set wanted = [parts[1]] if parts | length > 1 else view.all_features -%}
            {%- for f in wanted -%}
                {%- if execute and f not in view.all_features -%}
                    {{ exceptions.raise_compiler_error(
                        "feature view " ~ name ~ " has no feature " ~ f ~ "; it has: " ~ view.all_features | join(', ')) }}
                {%- endif -%}
                {%- if execute and f in seen_features and seen_features[f] != name -%}
                    {{ exceptions.raise_compiler_error(
                        "feature " ~ f ~ " is in both " ~ seen_features[f] ~ " and " ~ name
                        ~ "; ask for one of them") }}
                {%- endif -%}
                {%- if f not in view.features -%}
                    {%- do view.features.append(f) -%}
                    {%- do seen_features.update({f: name}) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(views) }}
{%- endmacro %}

{#- A feature view's `meta.keel` block, checked. Placeholders while dbt parses (no manifest yet). -#}
{% macro feature_view_meta(name) -%}
    {%- if not execute -%}
        {{ return({'entity': 'entity', 'timestamp': 'feature_ts', 'ttl': '1 day', 'features': []}) }}
    {%- endif -%}
    {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', name) | list -%}
    {%- set meta = (nodes[0].config.meta.get('keel', {}) if nodes else {}) -%}
    {%- for key in ['entity', 'timestamp', 'ttl', 'features'] -%}
        {%- if not meta.get(key) -%}
            {{ exceptions.raise_compiler_error(
                name ~ " is not a feature view: its yml has no config.meta.keel." ~ key) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(meta) }}
{%- endmacro %}

{#- '30 days', '3 hours', '90 minutes', '1 second' to seconds. -#}
{% macro ttl_seconds(ttl, view_name) -%}
    {%- set units = {'second': 1, 'minute': 60, 'hour': 3600, 'day': 86400, 'week': 604800} -%}
    {%- set parts = (ttl | string).split() -%}
    {%- set unit = (parts[1] if parts | length == 2 else '') | lower -%}
    {%- set unit = unit[:-1] if unit.endswith('s') else unit -%}
    {%- if parts | length != 2 or not parts[0].isdigit() or unit not in units -%}
        {{ exceptions.raise_compiler_error(
            "feature view " ~ view_name ~ ": ttl '" ~ ttl ~ "' is not like '30 days' (units: "
            ~ units.keys() | join(', ') ~ ")") }}
    {%- endif -%}
    {{ return(parts[0] | int * units[unit]) }}
{%- endmacro %}

{#- The latest row per entity of a feature view as of one instant, with when it expires
    (feature_ts + ttl); entities whose latest row has expired by then are left out. The instant
    is var `online_as_of` when set (`keel materialize --as-of`), else the view's newest
    feature_ts. `keel materialize` copies this to the online store, which checks expiry again
    against its own clock whenever it is read. -#}
{% macro latest_feature_values(view_name) -%}
    {%- set view = feature_views([view_name])[0] %}
    {%- set as_of = var('online_as_of', none) %}
    with clock as (
    {%- if as_of %}
            select cast('{{ as_of }}' as timestamp) as as_of
        {%- else %}
            select max({{ view.timestamp }}) as as_of
            from {{ view.relation }}
    {%- endif %}
    ),

    ranked as (
        select
            f.{{ view.entity }},
            f.{{ view.timestamp }} as feature_ts,
            {{ dbt.dateadd('second', view.ttl_seconds, 'f.' ~ view.timestamp) }} as expires_at,
            clock.as_of
    {%- for c in view.all_features %},
                f.{{ c }}
    {%- endfor %},
            row_number() over (
                partition by f.{{ view.entity }}
                order by f.{{ view.timestamp }} desc
    {%- for c in view.all_features %}, f.{{ c }} desc nulls last{% endfor %}
            ) as recency
        from {{ view.relation }} as f
        cross join clock
        -- rows older than the ttl would be dropped below anyway: skip ranking them
        where
            f.{{ view.timestamp }} <= clock.as_of
            and f.{{ view.timestamp }} > {{ dbt.dateadd('second', -view.ttl_seconds, 'clock.as_of') }}
    )

    select
        {{ view.entity }},
        feature_ts,
        expires_at
    {%- for c in view.all_features %},
            {{ c }}
    {%- endfor %}
    from ranked
    where recency = 1 and expires_at > as_of
{%- endmacro %}
