{#- Drift statistics in SQL, from value counts.

    A distribution is a relation of value counts: `keys`, column_name, value (a number, for
    numeric columns), category (text, for categorical columns) and rows. A row with neither value
    nor category counts nulls. Rows of the same value add up, so one row per distinct value
    (value_counts: a frozen training reference is stored this way) and one row per observed row
    with rows = 1 (value_counts with grouped=false) describe the same distribution. Every statistic below equals its
    scipy/numpy definition on the rows counted.

    drift_statistics compares each `period` of `current` with the `reference` of the same `keys`,
    one row per keys, period and column_name:
    - psi: population stability index over the reference's decile bins (numeric; a decile is the
      smallest value whose cumulative share reaches k/10, and a bin holds [edge, next edge)) or
      over categories; shares are of non-null rows, and an empty bin counts as 0.0001 (Evidently's
      convention) so the logarithm is defined.
    - ks: the two-sample Kolmogorov-Smirnov statistic, the largest gap between the empirical CDFs
      (scipy.stats.ks_2samp's statistic).
    - wasserstein_norm: the Wasserstein-1 distance (scipy.stats.wasserstein_distance), the area
      between the two CDFs, divided by the reference's population std, floored at 0.001 as
      Evidently does.
    - js_distance: the Jensen-Shannon distance of the category shares, natural log
      (scipy.spatial.distance.jensenshannon; categorical only).
    - null_rate_reference, null_rate_current, null_rate_change (current minus reference).
    - mean_shift_std: (current mean - reference mean) / reference population std (numeric).
    Statistics that need values on both sides are null when either side has none.

    How, for numeric columns, without sorting every value. KS, Wasserstein and the PSI bins all
    follow the CDF gap d(x) = n_cur R(x) - n_ref C(x) (R, C: each side's rows at or below x; an
    integer, so exact in doubles below 2^53) along the values in order. Sorting the million
    distinct values of a continuous column is what costs, so the values are first grouped into
    narrow bins of equal width (`bins_per_std` per spread of the reference's distinct values;
    floor() of basic arithmetic is monotone, so a bin is an interval of values and ties share
    one), and one sorted walk over the bins gives d at each bin's last value. Inside a bin d moves
    from its value before the bin by at most n_cur * the bin's reference rows up and
    n_ref * its current rows down, so a bin whose d cannot change sign there has its area in
    closed form (from the bin's sums of offsets), a bin whose bound stays below the largest |d|
    at the bins' ends cannot hold the KS maximum, and a bin whose reference rows cross no k/10
    has one PSI bin. Only the few bins that fail one of these (where the CDFs cross, near the KS
    maximum, at the deciles) are walked value by value. The result is exact whichever bins are
    chosen; the width only decides how many values that last walk sorts. -#}

-- The macros below render their SQL from lists of keys and columns, whose layout sqlfluff
-- cannot judge unrendered.
-- noqa: disable=LT02
{% macro drift_statistics(reference, current, keys, period, bins_per_std=1000) -%}
    {%- set k = keys | join(', ') %}
    {%- set kp = (keys + period) | join(', ') %}
    {%- set by_column = keys + ['column_name'] %}
    {%- set by_period = keys + period + ['column_name'] %}
with
drift_reference as {{ _drift_inline() }} (
    select
        {{ k }},
        column_name,
        value,
        category,
        -- counts as doubles: exact below 2^53, and sums over them are cheaper than over the
        -- 128-bit integers a sum of bigints gives
        cast(rows as double) as rows
    from {{ reference }}
),

drift_current as {{ _drift_inline() }} (
    select
        {{ kp }},
        column_name,
        value,
        category,
        cast(rows as double) as rows
    from {{ current }}
),

-- per side: total and present rows, and the mean
drift_ref_moments as (
    {{ _drift_moments('drift_reference', keys) }}
),

drift_cur_moments as (
    {{ _drift_moments('drift_current', keys + period) }}
),

-- the reference's columns, numbered, with their bins' width: the std / bins_per_std (any
-- positive width gives the same statistics, see above, so the std's rounding here is harmless)
drift_ref_columns as (
    select
        *,
        coalesce(nullif(sqrt(greatest(value_squares / numeric_rows - mean_value * mean_value, 0)), 0), 1.0)
        / {{ bins_per_std }} as bin_width,
        row_number() over (order by {{ k }}, column_name) as column_id
    from drift_ref_moments
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
        b.bin_width,
        b.column_id,
        case when a.has_categories = 1 or b.has_categories = 1 then 'categorical' else 'numeric' end as kind,
        -- one integer per comparison: the walks below partition by it, not by the keys
        row_number() over (order by {% for c in keys + period %}a.{{ c }}, {% endfor %}a.column_name) as pair_id
    from drift_cur_moments as a
    inner join drift_ref_columns as b on {{ _drift_on('a', 'b', by_column) }}
),

-- each side's numeric values with their bin, their deviation from the reference's mean and their
-- offset from the bin's lower edge (its anchor); the reference once per column, the current side
-- per comparison
drift_ref_values as {{ _drift_inline() }} (
    {{ _drift_binned('column_id', 'drift_ref_columns', 'mean_value', 'drift_reference', by_column) }}
),

drift_cur_values as {{ _drift_inline() }} (
    {{ _drift_binned('pair_id', 'drift_pairs', 'ref_mean', 'drift_current', by_period) }}
),

drift_ref_bins as (
    select
        column_id,
        bin,
        min(value) as low_value,
        max(value) as high_value,
        sum(rows) as ref_rows,
        sum(rows * offset_value) as ref_offsets,
        -- squared deviations from the mean, for the reference's std
        sum(rows * deviation * deviation) as ref_squares
    from drift_ref_values
    group by column_id, bin
),

drift_cur_bins as (
    select
        pair_id,
        bin,
        min(value) as low_value,
        max(value) as high_value,
        sum(rows) as cur_rows,
        sum(rows * offset_value) as cur_offsets
    from drift_cur_values
    group by pair_id, bin
),

-- both sides' bins per comparison, in order: the step d takes over each bin (and the sum of its
-- values' steps times their offsets), d after it, the reference's rows after it, and how many
-- empty bins follow it
drift_bin_walk as (
    select
        b.pair_id,
        b.bin,
        b.low_value,
        b.high_value,
        b.ref_rows,
        b.cur_rows,
        p.column_id,
        p.ref_numeric,
        p.cur_numeric,
        p.bin_width,
        -- a bin with one value: that value's offset
        b.low_value - p.ref_mean - b.bin * p.bin_width as low_offset,
        p.cur_numeric * b.ref_rows - p.ref_numeric * b.cur_rows as step,
        p.cur_numeric * b.ref_offsets - p.ref_numeric * b.cur_offsets as step_offsets,
        sum(p.cur_numeric * b.ref_rows - p.ref_numeric * b.cur_rows) over running as gap_after,
        sum(b.ref_rows) over running as ref_after,
        coalesce(lead(b.bin) over (partition by b.pair_id order by b.bin) - b.bin - 1, 0) as empty_after
    from (
        select
            pair_id,
            bin,
            min(low_value) as low_value,
            max(high_value) as high_value,
            sum(ref_rows) as ref_rows,
            sum(cur_rows) as cur_rows,
            sum(ref_offsets) as ref_offsets,
            sum(cur_offsets) as cur_offsets
        from (
            select
                p.pair_id,
                r.bin,
                r.low_value,
                r.high_value,
                r.ref_rows,
                0 as cur_rows,
                r.ref_offsets,
                0 as cur_offsets
            from drift_pairs as p
            inner join drift_ref_bins as r on p.column_id = r.column_id
            union all
            select
                pair_id,
                bin,
                low_value,
                high_value,
                0 as ref_rows,
                cur_rows,
                0 as ref_offsets,
                cur_offsets
            from drift_cur_bins
        ) as both_sides
        group by pair_id, bin
    ) as b
    inner join drift_pairs as p on b.pair_id = p.pair_id
    window running as (partition by b.pair_id order by b.bin rows between unbounded preceding and current row)
),

-- which bins to walk value by value (see above); d before the bin is gap_after - step, and
-- inside the bin it stays between that minus ref_numeric * cur_rows and plus cur_numeric * ref_rows
drift_bin_checks as (
    select
        *,
        low_value < high_value and (
            -- d may change sign inside
            (gap_after - step - ref_numeric * cur_rows < 0 and gap_after - step + cur_numeric * ref_rows > 0)
            -- |d| inside may exceed every bin end's
            or greatest(gap_after - step + cur_numeric * ref_rows, ref_numeric * cur_rows - gap_after + step)
            > max(abs(gap_after)) over (partition by pair_id)
            -- a decile edge inside
            or least(floor(10 * (ref_after - ref_rows) / ref_numeric), 9) <> least(floor(10 * ref_after / ref_numeric), 9)
        ) as walk_values
    from drift_bin_walk
),

-- the bins to walk, each with what the walk over the comparison's walked values is offset by to
-- give d and the reference's rows (its running sums include the walked bins before it)
drift_walked_bins as (
    select
        pair_id,
        column_id,
        bin,
        ref_numeric,
        cur_numeric,
        bin * bin_width as anchor,
        gap_after - sum(step) over running as gap_offset,
        ref_after - sum(ref_rows) over running as ref_offset
    from drift_bin_checks
    where walk_values
    window running as (partition by pair_id order by bin rows between unbounded preceding and current row)
),

-- the walked bins' distinct values with both sides' rows
drift_walked_values as (
    select
        pair_id,
        bin,
        value,
        min(deviation) as deviation,
        sum(ref_rows) as ref_rows,
        sum(cur_rows) as cur_rows
    from (
        select
            b.pair_id,
            v.bin,
            v.value,
            v.deviation,
            v.rows as ref_rows,
            0 as cur_rows
        from drift_ref_values as v
        inner join drift_walked_bins as b on v.column_id = b.column_id and v.bin = b.bin
        union all
        select
            v.pair_id,
            v.bin,
            v.value,
            v.deviation,
            0 as ref_rows,
            v.rows as cur_rows
        from drift_cur_values as v
        inner join drift_walked_bins as b on v.pair_id = b.pair_id and v.bin = b.bin
    ) as walked
    group by pair_id, bin, value
),

-- one sorted walk per comparison over the walked values (bins are intervals, so the values' order
-- is the bins'): each value's step, d at it and the reference's rows at it
drift_value_walk as (
    select
        v.pair_id,
        v.ref_rows,
        v.cur_rows,
        v.deviation - b.anchor as offset_value,
        b.ref_numeric,
        b.cur_numeric * v.ref_rows - b.ref_numeric * v.cur_rows as step,
        b.gap_offset + sum(b.cur_numeric * v.ref_rows - b.ref_numeric * v.cur_rows) over running as gap,
        b.ref_offset + sum(v.ref_rows) over running as ref_at
    from drift_walked_values as v
    inner join drift_walked_bins as b on v.pair_id = b.pair_id and v.bin = b.bin
    window running as (partition by v.pair_id order by v.value rows between unbounded preceding and current row)
),

-- per comparison, the largest |d| (KS) and the area under |d| (Wasserstein), both times
-- ref_numeric * cur_numeric; a bin spans [anchor, anchor + bin_width)
drift_distances as (
    select
        pair_id,
        max(abs_gap) as ks_gap,
        sum(area) as area
    from (
        -- d after each bin holds over the empty bins up to the next
        select
            pair_id,
            abs(gap_after) as abs_gap,
            abs(gap_after) * empty_after * bin_width as area
        from drift_bin_checks
        union all
        -- a bin where d keeps one sign: the integral of d over it, d after the bin over its width
        -- less each value's step over the part of the bin before the value (its offset)
        select
            pair_id,
            null as abs_gap,
            abs(gap_after * bin_width - step_offsets) as area
        from drift_bin_checks
        where not walk_values and low_value < high_value
        union all
        -- a bin with one value: d before it up to the value, d after it from there
        select
            pair_id,
            null as abs_gap,
            abs(gap_after - step) * low_offset + abs(gap_after) * (bin_width - low_offset) as area
        from drift_bin_checks
        where low_value = high_value
        union all
        -- a walked bin: summed by parts, d after it over the bin's width, plus each value's
        -- offset times (|d just before it| - |d at it|)
        select
            pair_id,
            null as abs_gap,
            abs(gap_after) * bin_width as area
        from drift_bin_checks
        where walk_values
        union all
        select
            pair_id,
            abs(gap) as abs_gap,
            offset_value * (abs(gap - step) - abs(gap)) as area
        from drift_value_walk
    ) as parts
    group by pair_id
),

drift_spread as (
    select
        column_id,
        sum(ref_squares) as ref_squares
    from drift_ref_bins
    group by column_id
),

-- PSI and Jensen-Shannon compare shares of non-null rows per bin (numeric: the number of decile
-- edges at or below a value, from the reference's rows at or below it) or category
drift_shares as (
    select
        b.pair_id,
        b.bucket,
        sum(b.ref_rows) * 1.0 / max(p.ref_present) as ref_share,
        sum(b.cur_rows) * 1.0 / max(p.cur_present) as cur_share
    from (
        select
            pair_id,
            cast(least(floor(10 * ref_after / ref_numeric), 9) as {{ dbt.type_string() }}) as bucket,
            ref_rows,
            cur_rows
        from drift_bin_checks
        where not walk_values
        union all
        select
            pair_id,
            cast(least(floor(10 * ref_at / ref_numeric), 9) as {{ dbt.type_string() }}) as bucket,
            ref_rows,
            cur_rows
        from drift_value_walk
        union all
        select
            p.pair_id,
            r.category as bucket,
            r.rows as ref_rows,
            0.0 as cur_rows
        from drift_pairs as p
        inner join drift_reference as r on {{ _drift_on('p', 'r', by_column) }}
        where r.category is not null
        union all
        select
            p.pair_id,
            c.category as bucket,
            0.0 as ref_rows,
            c.rows as cur_rows
        from drift_pairs as p
        inner join drift_current as c on {{ _drift_on('p', 'c', by_period) }}
        where c.category is not null
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
),

drift_numeric as (
    select
        p.pair_id,
        d.ks_gap / (p.ref_numeric * p.cur_numeric) as ks,
        d.area / (p.ref_numeric * p.cur_numeric) as wasserstein,
        sqrt(s.ref_squares / p.ref_numeric) as ref_std
    from drift_pairs as p
    inner join drift_distances as d on p.pair_id = d.pair_id
    inner join drift_spread as s on p.column_id = s.column_id
)

select
    {% for c in keys + period %}p.{{ c }}, {% endfor %}
    p.column_name,
    p.kind,
    cast(p.ref_total as bigint) as reference_rows,
    cast(p.cur_total as bigint) as current_rows,
    case when p.ref_present > 0 and p.cur_present > 0 then v.psi end as psi,
    case when p.kind = 'numeric' and p.ref_numeric > 0 and p.cur_numeric > 0 then n.ks end as ks,
    case when p.kind = 'numeric' and p.ref_numeric > 0 and p.cur_numeric > 0
        then n.wasserstein / greatest(n.ref_std, 0.001) end as wasserstein_norm,
    case when p.kind = 'categorical' and p.ref_present > 0 and p.cur_present > 0
        then v.js_distance end as js_distance,
    1.0 - p.ref_present * 1.0 / nullif(p.ref_total, 0) as null_rate_reference,
    1.0 - p.cur_present * 1.0 / nullif(p.cur_total, 0) as null_rate_current,
    p.ref_present * 1.0 / nullif(p.ref_total, 0) - p.cur_present * 1.0 / nullif(p.cur_total, 0)
    as null_rate_change,
    case when p.kind = 'numeric' then (p.cur_mean - p.ref_mean) / nullif(n.ref_std, 0) end as mean_shift_std
from drift_pairs as p
left join drift_numeric as n
    on p.pair_id = n.pair_id
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
{% macro monitoring_period(timestamp) -%}
    cast({{ dbt.date_trunc(var('monitoring_grain'), timestamp) }} as date)
{%- endmacro %}


{#- Per `group` and column of a value-count relation: total rows, present (non-null) rows,
    numeric rows, their mean, whether the column has categories, and the values' sum of squares. -#}
{%- macro _drift_moments(relation, group) -%}
    select
        {{ group | join(', ') }},
        column_name,
        sum(rows) as total_rows,
        sum(case when value is not null or category is not null then rows else 0 end) as present_rows,
        sum(case when value is not null then rows else 0 end) as numeric_rows,
        sum(rows * value) / nullif(sum(case when value is not null then rows else 0 end), 0) as mean_value,
        max(case when category is not null then 1 else 0 end) as has_categories,
        -- for the bins' scale only (precise statistics come from deviations from the mean)
        sum(rows * value * value) as value_squares
    from {{ relation }}
    group by {{ group | join(', ') }}, column_name
{%- endmacro %}


{#- A side's numeric values (`relation`) joined to what numbers their column (`id` in `columns`,
    with bin_width and the mean `origin`), each with its bin, its deviation from the mean and its
    offset from the bin's anchor. -#}
{%- macro _drift_binned(id, columns, origin, relation, on) -%}
    select
        {{ id }},
        bin,
        value,
        rows,
        deviation,
        deviation - bin * bin_width as offset_value
    from (
        select
            c.{{ id }},
            c.bin_width,
            v.value,
            v.rows,
            v.value - c.{{ origin }} as deviation,
            -- a double, so that infinities have bins too
            floor((v.value - c.{{ origin }}) / c.bin_width) as bin
        from {{ columns }} as c
        inner join {{ relation }} as v on {{ _drift_on('c', 'v', on) }}
        where v.value is not null
    ) as binned
{%- endmacro %}


{#- `left.c = right.c and ...` over `columns`. -#}
{%- macro _drift_on(left, right, columns) -%}
    {%- for c in columns %}{{ left }}.{{ c }} = {{ right }}.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
{%- endmacro %}


{#- Value counts of a wide relation: one row per `keys` (+ `period`), column and distinct value,
    for the numeric and categorical columns named; the input drift_statistics compares.
    With grouped=false, one row per row of `relation` and column instead, with rows = 1:
    drift_statistics adds up rows of the same value, so it compares these exactly as their
    counts, and for continuous columns, where nearly every value is distinct, counting first
    would only add a pass. -#}
{%- macro value_counts(relation, numeric, categorical, keys, grouped=true) -%}
{%- set group = keys | join(', ') %}
{%- for c in numeric %}
    select
        {{ group ~ ',' if keys }}
        '{{ c }}' as column_name,
        cast({{ c }} as double) as value,
        cast(null as {{ dbt.type_string() }}) as category,
        {{ 'count(*)' if grouped else '1' }} as rows
    from {{ relation }}
    {% if grouped %}group by {{ group ~ ',' if keys }} cast({{ c }} as double){% endif %}
    {{ 'union all' if not loop.last or categorical }}
{%- endfor %}
{%- for c in categorical %}
    select
        {{ group ~ ',' if keys }}
        '{{ c }}' as column_name,
        cast(null as double) as value,
        cast({{ c }} as {{ dbt.type_string() }}) as category,
        {{ 'count(*)' if grouped else '1' }} as rows
    from {{ relation }}
    {% if grouped %}group by {{ group ~ ',' if keys }} cast({{ c }} as {{ dbt.type_string() }}){% endif %}
    {{ 'union all' if not loop.last }}
{%- endfor %}
{%- endmacro %}


{#- Inlines a common table expression that is read more than once where the engine would
    otherwise store it (DuckDB does): re-reading the counts costs less than storing them. -#}
{%- macro _drift_inline() -%}
    {{ return(adapter.dispatch('_drift_inline', 'keel')()) }}
{%- endmacro %}

{%- macro duckdb___drift_inline() -%}
    not materialized
{%- endmacro %}

{%- macro default___drift_inline() -%}
{%- endmacro %}
