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
    {%- set latest = default__pit_latest if var('portable_point_in_time_join', false)
        else adapter.dispatch('pit_latest', 'keel') %}
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

        pit_latest_{{ i }} as (
            {{ latest('pit_keys_' ~ i, v) }}
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

{#- The chosen feature row of each key of `keys` (entity_key, spine_ts) that has one: columns
    entity_key, spine_ts and the features asked for (view.features). -#}

{#- Any engine: every feature row in the window, by a join on the entity with a range condition,
    ranked by time and then by the declared features (the tie rule). -#}
{% macro default__pit_latest(keys, view) -%}
    {{ pit_ranked_latest(default__pit_candidates(keys, view), view) }}
{%- endmacro %}

{#- Of `candidates` (entity_key, spine_ts, feature_ts and every feature of the view), each key's
    latest row by time and then the tie rule: columns entity_key, spine_ts and view.features. -#}
{% macro pit_ranked_latest(candidates, view) -%}
    select
        entity_key,
        spine_ts
    {%- for f in view.features %},
        {{ f }}
    {%- endfor %}
    from (
        select
            candidates.*,
            row_number() over (
                partition by entity_key, spine_ts
                order by feature_ts desc{{ pit_tie_order(view) }}
            ) as pit_rank
        from ({{ candidates }}) as candidates
    ) as ranked
    where pit_rank = 1
{%- endmacro %}

{#- The tie rule (see point_in_time_join) as the rest of an `order by` after the time: every
    declared feature, largest first, nulls lowest; `prefix` qualifies the columns. One place, so
    the point-in-time join and the online store's latest values break ties alike. -#}
{% macro pit_tie_order(view, prefix='') -%}
    {%- for c in view.all_features %}, {{ prefix }}{{ c }} desc nulls last{% endfor %}
{%- endmacro %}

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

{#- DuckDB: one pass over the view for the entities with few spine times (most spines), an ASOF
    join for the others. Measured in bench/ (bench_features.py pit).

    Sparse entities (at most var `point_in_time_sparse_limit` = 8 distinct spine times): each
    feature row within the entity's span of spine times (less the ttl) is assigned to its
    segment, the entity's first spine time at or after it, by a CASE over those few times (no
    join, no sort); one hash aggregation keeps each segment's latest row (arg_max) and its two
    latest times. A spine time's row is its own segment's, else that of the latest earlier
    non-empty segment, if within the ttl. When the two latest times of the chosen segment are
    equal (a tie), the tied rows are read again and ranked by the declared features; DuckDB
    skips that read when no key has a tie, and the dense part's when no entity is dense.

    Dense entities: an ASOF JOIN finds each key's latest feature time among the rows some key
    of theirs could use, then the rows at exactly that time are fetched, ties included. -#}
{% macro duckdb__pit_latest(keys, view) -%}
    {%- set limit = var('point_in_time_sparse_limit', 8) | int %}
    {%- if limit < 1 %}
        {{ exceptions.raise_compiler_error("var point_in_time_sparse_limit must be 1 or more") }}
    {%- endif %}
    with pit_entities as (
        select
            entity_key,
            count(*) as spine_times,
            {{ dbt.dateadd('second', -view.ttl_seconds, 'min(spine_ts)') }} as first_usable_ts,
            max(spine_ts) as last_ts,
            list_sort(list(spine_ts), 'ASC', 'NULLS LAST') as spine_ts_list
        from {{ keys }}
        group by entity_key
    ),

    pit_sparse_spans as (
        select
            entity_key,
            first_usable_ts,
            last_ts
        from pit_entities
        where spine_times <= {{ limit }}
    ),

    pit_sparse_times as (
        select
            entity_key
    {%- for n in range(1, limit + 1) %},
            spine_ts_list[{{ n }}] as spine_ts_{{ n }}
    {%- endfor %}
        from pit_entities
        where spine_times <= {{ limit }}
    ),

    pit_sparse_rows as (
        select
            f.{{ view.entity }} as entity_key,
            f.{{ view.timestamp }} as feature_ts
    {%- for c in view.features %},
            f.{{ c }}
    {%- endfor %}
        from {{ view.relation }} as f
        inner join pit_sparse_spans as s
            on f.{{ view.entity }} = s.entity_key
        -- a filter after the join, not a join condition: the join on the entity alone can use a
        -- perfect hash table, and a CASE is not turned back into one (about 2x cheaper here)
        where case when f.{{ view.timestamp }} between s.first_usable_ts and s.last_ts then true else false end
    ),

    pit_segments as (
        select
            r.*,
            case
    {%- for n in range(1, limit + 1) %}
                when r.feature_ts <= t.spine_ts_{{ n }} then t.spine_ts_{{ n }}
    {%- endfor %}
            end as segment_ts
        from pit_sparse_rows as r
        inner join pit_sparse_times as t on r.entity_key = t.entity_key
    ),

    pit_segment_latest as (
        select
            entity_key,
            segment_ts,
            max(feature_ts, 2) as latest_times,
            arg_max({
    {%- for c in view.features %}'{{ c }}': {{ c }}{{ ', ' if not loop.last }}{% endfor -%}
            }, feature_ts) as feature_values
        from pit_segments
        group by entity_key, segment_ts
    ),

    pit_sparse_latest as (
        select
            k.entity_key,
            k.spine_ts,
            last_value(
                case
                    when s.entity_key is not null then {
                        'feature_ts': s.latest_times[1],
                        'tied': coalesce(s.latest_times[1] = s.latest_times[2], false),
                        'feature_values': s.feature_values
                    }
                end ignore nulls
            ) over (
                partition by k.entity_key order by k.spine_ts rows between unbounded preceding and current row
            ) as latest
        from {{ keys }} as k
        inner join pit_sparse_spans as e on k.entity_key = e.entity_key
        left join pit_segment_latest as s
            on
                k.entity_key = s.entity_key
                and k.spine_ts = s.segment_ts
    ),

    pit_sparse_chosen as (
        select
            entity_key,
            spine_ts,
            latest
        from pit_sparse_latest as s
        where s.latest.feature_ts >= {{ dbt.dateadd('second', -view.ttl_seconds, 's.spine_ts') }}
    ),

    pit_tied_times as (
        select distinct
            c.entity_key,
            c.latest.feature_ts as feature_ts
        from pit_sparse_chosen as c
        where c.latest.tied
    ),

    pit_tie_winners as (
        select
            entity_key,
            feature_ts
    {%- for c in view.features %},
            {{ c }}
    {%- endfor %}
        from (
            select
                t.entity_key,
                t.feature_ts
    {%- for c in view.all_features %},
                f.{{ c }}
    {%- endfor %},
                row_number() over (
                    partition by t.entity_key, t.feature_ts
                    -- (the partition's own time first: all rows share it)
                    order by t.feature_ts{{ pit_tie_order(view, 'f.') }}
                ) as pit_rank
            from {{ view.relation }} as f
            inner join pit_tied_times as t
                on
                    f.{{ view.entity }} = t.entity_key
                    and f.{{ view.timestamp }} = t.feature_ts
        ) as tied
        where pit_rank = 1
    ),

    pit_dense_keys as (
        select k.*
        from {{ keys }} as k
        inner join pit_entities as e on k.entity_key = e.entity_key
        where e.spine_times > {{ limit }}
    ),

    pit_dense_latest as (
        {{ pit_ranked_latest(duckdb__pit_candidates('pit_dense_keys', view), view) }}
    )

    select
        c.entity_key,
        c.spine_ts
    {%- for f in view.features %},
        case when c.latest.tied then w.{{ f }} else c.latest.feature_values.{{ f }} end as {{ f }}
    {%- endfor %}
    from pit_sparse_chosen as c
    left join pit_tie_winners as w
        on
            c.entity_key = w.entity_key
            and c.latest.feature_ts = w.feature_ts
    union all
    select
        entity_key,
        spine_ts
    {%- for f in view.features %},
        {{ f }}
    {%- endfor %}
    from pit_dense_latest
{%- endmacro %}

{#- DuckDB, dense entities: candidate rows for each key of `keys` (entity_key, spine_ts): at
    least the latest row within the ttl; more only when it is tied. Columns: entity_key,
    spine_ts, feature_ts and every feature of the view. An ASOF JOIN finds each key's latest
    feature time, then the rows at exactly that time are fetched by equality, ties included.
    The view is first cut down to rows some key could use (its entity, within that entity's
    span of spine times less the ttl): one hash join over the view, which keeps the ASOF sort to
    the rows that matter. -#}
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
                order by f.{{ view.timestamp }} desc{{ pit_tie_order(view, 'f.') }}
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
