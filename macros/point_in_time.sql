{#- Point-in-time join: feature values as they were known at each spine row's time.

    point_in_time_join(spine, timestamp, features, since=none)
      spine      a relation (or CTE name) with one column per feature view entity (named as the
                 view's `entity`) and a time column
      timestamp  the spine's time column
      features   a list of 'view' (all of its features) or 'view:feature'; an item may also
                 be an ad-hoc view, {relation, entity, timestamp, ttl, features}, for a relation
                 that is not a declared feature view (benchmarks, one-off analyses)
      since      optional, a time no spine row is earlier than (text, e.g. '2026-03-01'): each
                 view is then read from `since` - its ttl on, as a constant filter, so that an
                 engine skips the older blocks of a view stored in time order (Keel's daily
                 views are): an incremental training set's new rows cost their own days, not
                 the view's history. A spine row earlier than `since` would miss its features.

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
{% macro point_in_time_join(spine, timestamp, features, since=none) -%}
    {%- set views = feature_views(features) %}
    {%- if since is not none %}
        {%- for v in views %}
            {%- set first_ts = dbt.dateadd('second', -v.ttl_seconds, "cast('" ~ since ~ "' as timestamp)") %}
            {%- set since_rows = '(select * from ' ~ v.relation ~ ' where ' ~ v.timestamp ~ ' >= ' ~ first_ts ~ ')' %}
            {%- do v.update({'relation': since_rows}) %}
        {%- endfor %}
    {%- endif %}
    {#- var portable_point_in_time_join: run the portable fallback on any engine (tests compare it
        with the engine's own). -#}
    {%- set portable = var('portable_point_in_time_join', false) %}
    {%- set match_times = default__pit_match_times if portable
        else adapter.dispatch('pit_match_times', 'keel') %}
    {%- set candidate_rows = default__pit_candidate_rows if portable
        else adapter.dispatch('pit_candidate_rows', 'keel') %}
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

        pit_times_{{ i }} as (
            {{ match_times('pit_keys_' ~ i, v) }}
        ),

        pit_values_{{ i }} as (
            {{ pit_feature_values('pit_times_' ~ i, v, candidate_rows) }}
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
            left join pit_times_{{ i }} as pit_time_{{ i }}
                on
                    spine.{{ v.entity }} = pit_time_{{ i }}.entity_key
                    and spine.{{ timestamp }} = pit_time_{{ i }}.spine_ts
            left join pit_values_{{ i }} as pit_view_{{ i }}
                on
                    pit_time_{{ i }}.entity_key = pit_view_{{ i }}.entity_key
                    and pit_time_{{ i }}.feature_ts = pit_view_{{ i }}.feature_ts
    {%- endfor %}
    )

    select * from pit_result
{%- endmacro %}

{#- The join runs in two steps, so that the view's feature columns are read once, and only to
    fetch the rows chosen:
      1. pit_match_times (per engine) reads only the view's entity and time columns: for each key
         of `keys` (entity_key, spine_ts), the latest feature_ts of that entity within
         [spine_ts - ttl, spine_ts]. Columns entity_key, spine_ts, feature_ts; keys without one
         are left out.
      2. pit_feature_values (any engine) fetches the rows at those (entity, feature_ts) by an
         equality join and keeps one per pair by the tie rule; pit_candidate_rows (per engine)
         may cut the view down to rows that could match before that join.
    Measured in bench/ (bench_features.py pit): a one-step join read the same columns and then
    carried them through its aggregation, 1.3x the time. A view that is a SQL view is computed in
    both steps: Keel's own feature views are tables. -#}

{#- Any engine: a join on the entity with a range condition, and the latest time per key. -#}
{% macro default__pit_match_times(keys, view) -%}
    select
        k.entity_key,
        k.spine_ts,
        max(f.{{ view.timestamp }}) as feature_ts
    from {{ keys }} as k
    inner join {{ view.relation }} as f
        on
            k.entity_key = f.{{ view.entity }}
            and f.{{ view.timestamp }} <= k.spine_ts
            and f.{{ view.timestamp }} >= {{ dbt.dateadd('second', -view.ttl_seconds, 'k.spine_ts') }}
    group by k.entity_key, k.spine_ts
{%- endmacro %}

{#- The view's rows at each (entity_key, feature_ts) of `times`, one per pair: several rows at one
    time (a tie) are ranked by the tie rule. Columns entity_key, feature_ts and view.features. -#}
{% macro pit_feature_values(times, view, candidate_rows) -%}
    select
        entity_key,
        feature_ts
    {%- for f in view.features %},
        {{ f }}
    {%- endfor %}
    from (
        select
            wanted.entity_key,
            wanted.feature_ts
    {%- for f in view.all_features %},
            f.{{ f }}
    {%- endfor %},
            row_number() over (
                partition by wanted.entity_key, wanted.feature_ts
                -- (the partition's own time first: all its rows share it)
                order by wanted.feature_ts{{ pit_tie_order(view, 'f.') }}
            ) as pit_rank
        from {{ candidate_rows(times, view) }} as f
        inner join (select distinct entity_key, feature_ts from {{ times }}) as wanted
            on
                f.{{ view.entity }} = wanted.entity_key
                and f.{{ view.timestamp }} = wanted.feature_ts
    ) as ranked
    where pit_rank = 1
{%- endmacro %}

{#- The view's rows that step 2 reads: any engine reads the view itself. -#}
{% macro default__pit_candidate_rows(times, view) -%}
    {{ view.relation }}
{%- endmacro %}

{#- DuckDB: only the rows at a wanted time, by a semi join on the time alone. DuckDB (1.5) builds
    a Bloom filter from a hash join's keys and pushes it into the probe side's scan only for a
    join on a single equality whose build side has a filter, so this join (not the equality join
    on entity and time after it) gets one: the scan then tests the time column alone and reads
    the other columns only for the rows that pass, 2.5% of them in bench/ (the whole join 5-10%
    faster in interleaved runs). `is not null` never drops a row (step 1 returns no null time):
    it is the build side's filter. Where many entities share each time (a view stamped by the
    day) the filter passes every row: medians 0.66 s with it and without (bench/README.md). -#}
{% macro duckdb__pit_candidate_rows(times, view) -%}
    (
            select * from {{ view.relation }}
            where {{ view.timestamp }} in (select feature_ts from {{ times }} where feature_ts is not null)
        )
{%- endmacro %}

{#- The tie rule (see point_in_time_join) as the rest of an `order by` after the time: every
    declared feature, largest first, nulls lowest; `prefix` qualifies the columns. One place, so
    the point-in-time join and the online store's latest values break ties alike. -#}
{% macro pit_tie_order(view, prefix='') -%}
    {%- for c in view.all_features %}, {{ prefix }}{{ c }} desc nulls last{% endfor %}
{%- endmacro %}

{#- DuckDB: one hash aggregation for the entities with few spine times (most spines), an ASOF join
    for the others. Measured in bench/ (bench_features.py pit).

    Sparse entities (at most var `point_in_time_sparse_limit` = 8 distinct spine times): each
    feature time within the entity's span of spine times (less the ttl) is assigned to its
    segment, the entity's first spine time at or after it, by a CASE over those few times (no
    sort); a hash aggregation keeps each segment's latest time. A spine time takes its own
    segment's time, else that of the latest earlier non-empty segment, if within the ttl.

    Dense entities: an ASOF JOIN over the view's times cut down to those some key of theirs could
    use (its entity, within that entity's span of spine times less the ttl), which keeps the ASOF
    sort to the rows that matter. DuckDB skips that part's scan when no entity is dense. -#}
{% macro duckdb__pit_match_times(keys, view) -%}
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

    pit_sparse_entities as (
        select
            entity_key,
            first_usable_ts,
            last_ts
    {%- for n in range(1, limit + 1) %},
            spine_ts_list[{{ n }}] as spine_ts_{{ n }}
    {%- endfor %}
        from pit_entities
        where spine_times <= {{ limit }}
    ),

    pit_segment_times as (
        select
            f.{{ view.entity }} as entity_key,
            f.{{ view.timestamp }} as feature_ts,
            case
    {%- for n in range(1, limit + 1) %}
                when f.{{ view.timestamp }} <= e.spine_ts_{{ n }} then e.spine_ts_{{ n }}
    {%- endfor %}
            end as segment_ts
        from {{ view.relation }} as f
        inner join pit_sparse_entities as e
            on f.{{ view.entity }} = e.entity_key
        -- a filter after the join, not a join condition: the join on the entity alone can use a
        -- perfect hash table (about 2x cheaper here), and `is true` keeps the optimizer from
        -- moving the range into the join (7% less time than the coalesce(..., false) it replaced)
        where (f.{{ view.timestamp }} between e.first_usable_ts and e.last_ts) is true
    ),

    pit_segment_latest as (
        select
            entity_key,
            segment_ts,
            max(feature_ts) as feature_ts
        from pit_segment_times
        group by entity_key, segment_ts
    ),

    pit_sparse_latest as (
        select
            k.entity_key,
            k.spine_ts,
            last_value(s.feature_ts ignore nulls) over (
                partition by k.entity_key order by k.spine_ts rows between unbounded preceding and current row
            ) as feature_ts
        from {{ keys }} as k
        inner join pit_sparse_entities as e on k.entity_key = e.entity_key
        left join pit_segment_latest as s
            on
                k.entity_key = s.entity_key
                and k.spine_ts = s.segment_ts
    ),

    pit_dense_entities as (
        select
            entity_key,
            first_usable_ts,
            last_ts
        from pit_entities
        where spine_times > {{ limit }}
    ),

    pit_dense_rows as (
        select
            f.{{ view.entity }} as entity_key,
            f.{{ view.timestamp }} as feature_ts
        from {{ view.relation }} as f
        inner join pit_dense_entities as e
            on
                f.{{ view.entity }} = e.entity_key
                and f.{{ view.timestamp }} between e.first_usable_ts and e.last_ts
    ),

    pit_dense_keys as (
        select k.*
        from {{ keys }} as k
        inner join pit_dense_entities as e on k.entity_key = e.entity_key
    ),

    pit_dense_latest as (
        select
            k.entity_key,
            k.spine_ts,
            r.feature_ts
        from pit_dense_keys as k
        asof inner join pit_dense_rows as r
            on
                k.entity_key = r.entity_key
                and k.spine_ts >= r.feature_ts
    ),

    pit_latest as (
        select * from pit_sparse_latest
        union all
        select * from pit_dense_latest
    )

    select
        entity_key,
        spine_ts,
        feature_ts
    from pit_latest
    where feature_ts >= {{ dbt.dateadd('second', -view.ttl_seconds, 'spine_ts') }}
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
    (feature_ts + ttl); entities whose latest row has expired by then are left out. A row expires
    at feature_ts + ttl exactly: a daily row holds for its day, [feature_ts, feature_ts + 1 day),
    and a user past their last row is not served the stale one. (The point-in-time join's window
    keeps its old end, Feast's rule: at that one instant it still takes the row.) The instant
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
