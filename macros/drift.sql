{#- Drift statistics in SQL, from value counts.

    A distribution is a relation of value counts: `keys`, column_name, value (a number, for
    numeric columns), category (text, for categorical columns) and rows. A row with neither value
    nor category counts nulls. Value counts are exact (every statistic below equals its
    scipy/numpy definition on the rows they count), and they stay small for the counts, flags and
    categories features usually are: that is why a frozen training reference is stored this way.

    drift_statistics compares each `period` of `current` with the `reference` of the same `keys`,
    one row per keys, period and column_name:
    - psi: population stability index over the reference's decile bins (numeric; a decile is the
      smallest value whose cumulative share reaches k/10, and a bin holds [edge, next edge)) or
      over categories; shares are of non-null rows, and an empty bin counts as 0.0001 (Evidently's
      convention) so the logarithm is defined.
    - ks: the two-sample Kolmogorov-Smirnov statistic, the largest gap between the empirical CDFs
      (scipy.stats.ks_2samp's statistic).
    - wasserstein_norm: the Wasserstein-1 distance (scipy.stats.wasserstein_distance) divided by
      the reference's population std, floored at 0.001 as Evidently does.
    - js_distance: the Jensen-Shannon distance of the category shares, natural log
      (scipy.spatial.distance.jensenshannon; categorical only).
    - null_rate_reference, null_rate_current, null_rate_change (current minus reference).
    - mean_shift_std: (current mean - reference mean) / reference population std (numeric).
    Statistics that need values on both sides are null when either side has none. -#}

-- The macros below render their SQL from lists of keys and columns, whose layout sqlfluff
-- cannot judge unrendered.
-- noqa: disable=LT02
{% macro drift_statistics(reference, current, keys, period) -%}
    {%- set k = keys | join(', ') %}
    {%- set kp = (keys + period) | join(', ') %}
    {%- set by_column = keys + ['column_name'] %}
    {%- set by_period = keys + period + ['column_name'] %}
with
drift_reference as (
    select
        {{ k }},
        column_name,
        value,
        category,
        -- counts as doubles: exact below 2^53, and window sums over them are far faster than
        -- over the 128-bit integers a sum of bigints gives
        cast(rows as double) as rows
    from {{ reference }}
),

drift_current as (
    select
        {{ kp }},
        column_name,
        value,
        category,
        cast(rows as double) as rows
    from {{ current }}
),

-- per side: total and present rows, the mean, and (second pass) the population variance
drift_ref_moments as (
    {{ _drift_moments('drift_reference', keys) }}
),

drift_ref_stats as (
    select
        m.*,
        sqrt(v.sum_squares / nullif(m.numeric_rows, 0)) as std_value
    from drift_ref_moments as m
    left join (
        select
            a.{{ keys | join(', a.') }},
            a.column_name,
            sum(a.rows * (a.value - b.mean_value) * (a.value - b.mean_value)) as sum_squares
        from drift_reference as a
        inner join drift_ref_moments as b on {{ _drift_on('a', 'b', by_column) }}
        where a.value is not null
        group by a.{{ keys | join(', a.') }}, a.column_name
    ) as v
        on {{ _drift_on('m', 'v', by_column) }}
),

drift_cur_stats as (
    {{ _drift_moments('drift_current', keys + period) }}
),

-- the comparisons to make: every current period of a column the reference also has
drift_pairs as (
    select
        {% for c in keys + period %}a.{{ c }}, {% endfor %}
        a.column_name,
        a.total_rows as cur_total,
        a.present_rows as cur_present,
        a.numeric_rows as cur_numeric,
        a.mean_value as cur_mean,
        b.total_rows as ref_total,
        b.present_rows as ref_present,
        b.numeric_rows as ref_numeric,
        b.mean_value as ref_mean,
        b.std_value as ref_std,
        case when a.has_categories = 1 or b.has_categories = 1 then 'categorical' else 'numeric' end as kind,
        -- one integer per comparison: the sorted walk below partitions by it, not by the keys
        row_number() over (order by {% for c in keys + period %}a.{{ c }}, {% endfor %}a.column_name) as pair_id
    from drift_cur_stats as a
    inner join drift_ref_stats as b on {{ _drift_on('a', 'b', by_column) }}
),

-- the reference's decile edges: the smallest value whose cumulative count reaches k/10 of its
-- numeric rows (integer arithmetic, so no rounding decides an edge)
drift_ref_cumulative as (
    select
        {{ k }},
        column_name,
        value,
        sum(rows) over (
            partition by {{ k }}, column_name order by value rows between unbounded preceding and current row
        ) as cumulative_rows
    from drift_reference
    where value is not null
),

drift_edges as (
    select distinct
        {{ k }},
        column_name,
        edge
    from (
        select
            c.{{ keys | join(', c.') }},
            c.column_name,
            d.decile,
            min(c.value) as edge
        from drift_ref_cumulative as c
        -- numeric_rows: the reference's non-null values, counted once in drift_ref_moments
        inner join drift_ref_moments as m on {{ _drift_on('c', 'm', by_column) }}
        inner join (
            {% for d in range(1, 10) -%}
                select {{ d }} as decile{{ ' union all' if not loop.last }}
            {% endfor -%}
        ) as d on c.cumulative_rows * 10 >= d.decile * m.numeric_rows
        group by c.{{ keys | join(', c.') }}, c.column_name, d.decile
    ) as deciles
),

-- every value or category either side has, with its rows on each side, per comparison
drift_points as (
    select
        pair_id,
        value,
        category,
        sum(ref_rows) as ref_rows,
        sum(cur_rows) as cur_rows
    from (
        select
            p.pair_id,
            r.value,
            r.category,
            r.rows as ref_rows,
            0.0 as cur_rows
        from drift_pairs as p
        inner join drift_reference as r on {{ _drift_on('p', 'r', by_column) }}
        where r.value is not null or r.category is not null
        union all
        select
            p.pair_id,
            c.value,
            c.category,
            0.0 as ref_rows,
            c.rows as cur_rows
        from drift_pairs as p
        inner join drift_current as c on {{ _drift_on('p', 'c', by_period) }}
        where c.value is not null or c.category is not null
    ) as both_sides
    group by pair_id, value, category
),

-- numeric values in order, in one sorted pass: both sides' cumulative rows, the gap to the
-- next value, and the PSI bin (the number of decile edges at or below the value; edges are
-- reference values, so an equality join finds them)
drift_walk as (
    select
        p.pair_id,
        p.ref_rows,
        p.cur_rows,
        sum(p.ref_rows) over ordered as ref_cumulative,
        sum(p.cur_rows) over ordered as cur_cumulative,
        lead(p.value) over ordered - p.value as gap,
        cast(count(e.edge) over ordered as {{ dbt.type_string() }}) as bucket
    from drift_points as p
    inner join drift_pairs as q on p.pair_id = q.pair_id
    left join drift_edges as e on {{ _drift_on('q', 'e', by_column) }} and p.value = e.edge
    where p.value is not null
    window ordered as (partition by p.pair_id order by p.value rows between unbounded preceding and current row)
),

drift_distances as (
    select
        w.pair_id,
        max(abs(w.ref_cumulative * 1.0 / p.ref_numeric - w.cur_cumulative * 1.0 / p.cur_numeric)) as ks,
        sum(abs(w.ref_cumulative * 1.0 / p.ref_numeric - w.cur_cumulative * 1.0 / p.cur_numeric)
            * coalesce(w.gap, 0)) as wasserstein
    from drift_walk as w
    inner join drift_pairs as p on w.pair_id = p.pair_id
    group by w.pair_id
),

-- PSI and Jensen-Shannon compare shares of non-null rows per bin (numeric) or category
drift_shares as (
    select
        b.pair_id,
        b.bucket,
        sum(b.ref_rows) * 1.0 / max(p.ref_present) as ref_share,
        sum(b.cur_rows) * 1.0 / max(p.cur_present) as cur_share
    from (
        select pair_id, bucket, ref_rows, cur_rows from drift_walk
        union all
        select pair_id, category as bucket, ref_rows, cur_rows
        from drift_points
        where category is not null
    ) as b
    inner join drift_pairs as p on b.pair_id = p.pair_id
    group by b.pair_id, b.bucket
),

drift_divergences as (
    select
        pair_id,
        sum(
            (greatest(cur_share, 0.0001) - greatest(ref_share, 0.0001))
            * ln(greatest(cur_share, 0.0001) / greatest(ref_share, 0.0001))
        ) as psi,
        -- Jensen-Shannon: half the relative entropy of each side to their mixture, 0 * ln 0 = 0
        sqrt(greatest(0.5 * sum(
            case when ref_share > 0 then ref_share * ln(2 * ref_share / (ref_share + cur_share)) else 0 end
            + case when cur_share > 0 then cur_share * ln(2 * cur_share / (ref_share + cur_share)) else 0 end
        ), 0)) as js_distance
    from drift_shares
    group by pair_id
)

select
    {% for c in keys + period %}p.{{ c }}, {% endfor %}
    p.column_name,
    p.kind,
    cast(p.ref_total as bigint) as reference_rows,
    cast(p.cur_total as bigint) as current_rows,
    case when p.ref_present > 0 and p.cur_present > 0 then v.psi end as psi,
    case when p.kind = 'numeric' and p.ref_numeric > 0 and p.cur_numeric > 0 then d.ks end as ks,
    case when p.kind = 'numeric' and p.ref_numeric > 0 and p.cur_numeric > 0
        then d.wasserstein / greatest(p.ref_std, 0.001) end as wasserstein_norm,
    case when p.kind = 'categorical' and p.ref_present > 0 and p.cur_present > 0
        then v.js_distance end as js_distance,
    1.0 - p.ref_present * 1.0 / nullif(p.ref_total, 0) as null_rate_reference,
    1.0 - p.cur_present * 1.0 / nullif(p.cur_total, 0) as null_rate_current,
    p.ref_present * 1.0 / nullif(p.ref_total, 0) - p.cur_present * 1.0 / nullif(p.cur_total, 0)
    as null_rate_change,
    case when p.kind = 'numeric' then (p.cur_mean - p.ref_mean) / nullif(p.ref_std, 0) end as mean_shift_std
from drift_pairs as p
left join drift_distances as d
    on p.pair_id = d.pair_id
left join drift_divergences as v
    on p.pair_id = v.pair_id
{%- endmacro %}


{#- Drift of what each model version scored or served (mon_scored_distributions), per period,
    against the frozen reference registered with the version (registry.reference_distributions),
    for one role: feature or prediction. -#}
{% macro scored_drift(role) -%}
with reference_counts as (
    select
        model,
        version,
        column_name,
        value,
        category,
        rows
    from {{ source('registry', 'reference_distributions') }}
    where role = '{{ role }}'
),

scored_counts as (
    select
        model,
        version,
        day,
        column_name,
        value,
        category,
        rows
    from {{ ref('mon_scored_distributions') }}
    where role = '{{ role }}'
),

final as (
    {{ drift_statistics('reference_counts', 'scored_counts', ['model', 'version'], ['day']) }}
)

select * from final
{%- endmacro %}


{#- The period (var monitoring_grain) a monitoring row belongs to: the date `timestamp` falls in,
    truncated to the grain. -#}
{% macro monitoring_period(timestamp, grain=none) -%}
    cast({{ dbt.date_trunc(grain or var('monitoring_grain'), timestamp) }} as date)
{%- endmacro %}


{#- Per `group` and column of a value-count relation: total rows, present (non-null) rows,
    numeric rows, their mean, and whether the column has categories. -#}
{%- macro _drift_moments(relation, group) -%}
    select
        {{ group | join(', ') }},
        column_name,
        sum(rows) as total_rows,
        sum(case when value is not null or category is not null then rows else 0 end) as present_rows,
        sum(case when value is not null then rows else 0 end) as numeric_rows,
        sum(rows * value) / nullif(sum(case when value is not null then rows else 0 end), 0) as mean_value,
        max(case when category is not null then 1 else 0 end) as has_categories
    from {{ relation }}
    group by {{ group | join(', ') }}, column_name
{%- endmacro %}


{#- `left.c = right.c and ...` over `columns`. -#}
{%- macro _drift_on(left, right, columns) -%}
    {%- for c in columns %}{{ left }}.{{ c }} = {{ right }}.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
{%- endmacro %}


{#- Value counts of a wide relation: one row per `keys` (+ `period`), column and distinct value,
    for the numeric and categorical columns named; the input drift_statistics compares. -#}
{%- macro value_counts(relation, numeric, categorical, keys) -%}
{%- set group = keys | join(', ') %}
{%- for c in numeric %}
    select
        {{ group ~ ',' if keys }}
        '{{ c }}' as column_name,
        cast({{ c }} as double) as value,
        cast(null as {{ dbt.type_string() }}) as category,
        count(*) as rows
    from {{ relation }}
    group by {{ group ~ ',' if keys }} cast({{ c }} as double)
    {{ 'union all' if not loop.last or categorical }}
{%- endfor %}
{%- for c in categorical %}
    select
        {{ group ~ ',' if keys }}
        '{{ c }}' as column_name,
        cast(null as double) as value,
        cast({{ c }} as {{ dbt.type_string() }}) as category,
        count(*) as rows
    from {{ relation }}
    group by {{ group ~ ',' if keys }} cast({{ c }} as {{ dbt.type_string() }})
    {{ 'union all' if not loop.last }}
{%- endfor %}
{%- endmacro %}
