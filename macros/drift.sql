{#- Drift statistics in SQL, from value counts.

    A distribution is a relation of value counts: `keys`, column_name, value (a number, for
    numeric columns), category (text, for categorical columns) and rows. A row with neither value
    nor category counts nulls. Rows of the same value add up, so one row per distinct value
    (value_counts: a frozen training reference is stored this way) and one row per observed row
    with rows = 1 (value_counts with grouped=false) describe the same distribution. Every
    statistic below equals its scipy/numpy definition on the rows counted.

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
    integer, so exact in doubles below 2^53) along the values in order: KS is max |d| and
    Wasserstein the area under |d|, both over n_ref * n_cur, and a value's PSI bin follows from R.
    Sorting the million distinct values of a continuous column is what costs, so the values are
    first counted in narrow bins of equal width (the reference's std / `bins_per_std`, from its
    mean; floor() of basic arithmetic is monotone, so a bin is an interval of values and ties
    share one), and one sorted walk over the bins gives d at each bin's end. Inside a bin d stays
    within its value before the bin plus n_cur * the bin's reference rows or minus n_ref * its
    current rows. So a bin where d cannot change sign has its area in closed form (from the sum of
    its values' steps times their offsets in the bin), a bin whose bound stays under the largest
    |d| at the bins' ends cannot hold the KS maximum, and a bin whose reference rows cross no k/10
    lies in one PSI bin. Only the other bins (where the CDFs cross, near the KS maximum, at the
    deciles; in a column of a few distinct values, most of its bins) are walked value by value:
    their values are fetched again and sorted, a few percent of all here. The statistics do not
    depend on the width (tests/python/test_drift.py checks widths from 2 std to 1e-5 std); it only
    decides how many bins are walked and how many values sorted. Both walks take R and C from one
    running sum of R * (n_cur + 1) + C, which packs the two counts into one integer (exact under
    the same 2^53 bound; a window's running sum costs about as much as its sort, so one sum instead
    of two saves that much).
    The reference is counted and binned once per column, not once per period. -#}

-- The macros below render their SQL from lists of keys and columns, whose layout sqlfluff
-- cannot judge unrendered.
-- noqa: disable=LT02
{% macro drift_statistics(reference, current, keys, period, bins_per_std=4000) -%}
    {%- set k = keys | join(', ') %}
    {%- set by_column = keys + ['column_name'] %}
    {%- set by_period = ['column_id'] + period %}
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
        {{ (keys + period) | join(', ') }},
        column_name,
        value,
        category,
        cast(rows as double) as rows
    from {{ current }}
),

-- the reference per column and category (null for numbers and nulls): its rows, and its
-- numbers' rows, sum and sum of squares
drift_ref_counts as (
    select
        {{ k }},
        column_name,
        category,
        sum(rows) as total_rows,
        sum(case when value is not null then rows else 0 end) as numeric_rows,
        sum(rows * value) as value_sum,
        sum(rows * value * value) as value_squares
    from drift_reference
    group by {{ k }}, column_name, category
),

-- the reference's columns, numbered: total, present (non-null) and numeric rows, the mean, and
-- the bins' width, the std / bins_per_std (any positive width gives the same statistics, see
-- above, so this std's rounding is harmless)
drift_ref_columns as (
    select
        *,
        coalesce(nullif(sqrt(greatest(value_squares / nullif(numeric_rows, 0) - mean_value * mean_value, 0)), 0), 1.0)
        / {{ bins_per_std }} as bin_width,
        row_number() over (order by {{ k }}, column_name) as column_id
    from (
        select
            {{ k }},
            column_name,
            sum(total_rows) as total_rows,
            sum(case when category is not null then total_rows else numeric_rows end) as present_rows,
            sum(numeric_rows) as numeric_rows,
            sum(value_sum) / nullif(sum(numeric_rows), 0) as mean_value,
            sum(value_squares) as value_squares,
            max(case when category is not null then 1 else 0 end) as has_categories
        from drift_ref_counts
        group by {{ k }}, column_name
    ) as per_column
),

-- each side's rows of the reference's columns, numbers with their bin, their deviation from the
-- reference's mean and their offset from the bin's lower edge (its anchor)
drift_ref_values as {{ _drift_inline() }} (
    {{ _drift_binned('drift_reference', keys, []) }}
),

drift_cur_values as {{ _drift_inline() }} (
    {{ _drift_binned('drift_current', keys, period) }}
),

drift_ref_bins as (
    select
        column_id,
        bin,
        sum(rows) as ref_rows,
        sum(rows * offset_value) as ref_offsets,
        -- squared deviations from the mean, for the reference's std
        sum(rows * deviation * deviation) as ref_squares
    from drift_ref_values
    where value is not null
    group by column_id, bin
),

-- the current side per column, period, bin and category (a row with neither counts nulls): its
-- rows and its numbers' sum of offsets
drift_cur_bins as (
    select
        {{ by_period | join(', ') }},
        bin,
        category,
        sum(rows) as cur_rows,
        sum(rows * offset_value) as cur_offsets
    from drift_cur_values
    group by {{ by_period | join(', ') }}, bin, category
),

-- the comparisons to make: every current period of a column the reference also has
drift_pairs as (
    select
        {% for c in keys %}r.{{ c }}, {% endfor %}
        {%- for c in period %}a.{{ c }}, {% endfor %}
        r.column_name,
        r.column_id,
        r.bin_width,
        r.mean_value as ref_mean,
        a.cur_total,
        a.cur_present,
        a.cur_numeric,
        -- the radix that packs both sides' rows into one number, ref_rows * radix + cur_rows, so
        -- that one running sum gives both CDFs (an integer, exact while n_ref * n_cur < 2^53 as d is)
        a.cur_numeric + 1 as radix,
        -- the current mean's deviation from the reference's
        a.cur_deviations / nullif(a.cur_numeric, 0) as mean_shift,
        r.total_rows as ref_total,
        r.present_rows as ref_present,
        r.numeric_rows as ref_numeric,
        case when a.has_categories = 1 or r.has_categories = 1 then 'categorical' else 'numeric' end as kind,
        -- one integer per comparison: the walks below partition by it, not by the keys
        row_number() over (order by {% for c in keys %}r.{{ c }}, {% endfor %}
            {%- for c in period %}a.{{ c }}, {% endfor %}r.column_name) as pair_id
    from (
        select
            {% for c in by_period %}b.{{ c }}, {% endfor %}
            sum(b.cur_rows) as cur_total,
            sum(case when b.bin is not null or b.category is not null then b.cur_rows else 0 end) as cur_present,
            sum(case when b.bin is not null then b.cur_rows else 0 end) as cur_numeric,
            sum(b.bin * c.bin_width * b.cur_rows + b.cur_offsets) as cur_deviations,
            max(case when b.category is not null then 1 else 0 end) as has_categories
        from drift_cur_bins as b
        inner join drift_ref_columns as c on b.column_id = c.column_id
        group by {% for c in by_period %}b.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
    ) as a
    inner join drift_ref_columns as r on a.column_id = r.column_id
),

-- both sides' bins per comparison, in order: the step d takes over each bin (and the sum of its
-- values' steps times their offsets), both sides' rows at or below its end (packed), and how
-- many empty bins follow it
drift_bin_walk as (
    select
        *,
        sum(packed_rows) over running as packed_after,
        coalesce(lead(bin) over (partition by pair_id order by bin) - bin - 1, 0) as empty_after
    from (
        select
            b.pair_id,
            b.bin,
            b.ref_rows,
            b.cur_rows,
            {% for c in by_period %}p.{{ c }}, {% endfor %}
            p.ref_numeric,
            p.cur_numeric,
            p.radix,
            p.ref_mean,
            p.bin_width,
            p.cur_numeric * b.ref_rows - p.ref_numeric * b.cur_rows as step,
            p.cur_numeric * b.ref_offsets - p.ref_numeric * b.cur_offsets as step_offsets,
            b.ref_rows * p.radix + b.cur_rows as packed_rows
        from (
            select
                pair_id,
                bin,
                sum(ref_rows) as ref_rows,
                sum(cur_rows) as cur_rows,
                sum(ref_offsets) as ref_offsets,
                sum(cur_offsets) as cur_offsets
            from (
                select
                    p.pair_id,
                    r.bin,
                    r.ref_rows,
                    0 as cur_rows,
                    r.ref_offsets,
                    0 as cur_offsets
                from drift_pairs as p
                inner join drift_ref_bins as r on p.column_id = r.column_id
                union all
                select
                    p.pair_id,
                    c.bin,
                    0 as ref_rows,
                    c.cur_rows,
                    0 as ref_offsets,
                    c.cur_offsets
                from drift_pairs as p
                inner join drift_cur_bins as c on {{ _drift_on('p', 'c', by_period) }}
                where c.bin is not null
            ) as both_sides
            group by pair_id, bin
        ) as b
        inner join drift_pairs as p on b.pair_id = p.pair_id
    ) as steps
    window running as (partition by pair_id order by bin rows between unbounded preceding and current row)
),

-- d and the reference's rows at each bin's end, unpacked
drift_bin_ends as (
    select
        *,
        cur_numeric * ref_after - ref_numeric * cur_after as gap_after
    from (
        select
            *,
            {{ _drift_unpacked('packed_after') }}
        from drift_bin_walk
    ) as unpacked
),

-- which bins to walk value by value (see above); d before the bin is gap_after - step, and
-- inside the bin it stays between that minus ref_numeric * cur_rows and plus cur_numeric * ref_rows
drift_bin_checks as (
    select
        e.*,
        (
            -- d may change sign inside
            (e.gap_after - e.step - e.ref_numeric * e.cur_rows < 0 and e.gap_after - e.step + e.cur_numeric * e.ref_rows > 0)
            -- |d| inside may exceed every bin end's
            or greatest(e.gap_after - e.step + e.cur_numeric * e.ref_rows, e.ref_numeric * e.cur_rows - e.gap_after + e.step)
            > m.largest_gap
            -- a decile edge inside
            or least(floor(10 * (e.ref_after - e.ref_rows) / e.ref_numeric), 9)
            <> least(floor(10 * e.ref_after / e.ref_numeric), 9)
        ) as walk_values
    from drift_bin_ends as e
    inner join (
        select
            pair_id,
            max(abs(gap_after)) as largest_gap
        from drift_bin_ends
        group by pair_id
    ) as m on e.pair_id = m.pair_id
),

-- the bins to walk, each with what the walk over the comparison's walked values is offset by
-- (packed, as its running sum: the rows at or below the bin's end less the walked bins' rows up
-- to it, which that running sum includes)
drift_walked_bins as (
    select
        pair_id,
        {{ by_period | join(', ') }},
        bin,
        ref_numeric,
        cur_numeric,
        radix,
        ref_mean,
        bin * bin_width as anchor,
        packed_after - sum(packed_rows) over running as packed_offset
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
        sum(ref_rows) as ref_rows,
        sum(cur_rows) as cur_rows
    from (
        select
            b.pair_id,
            v.bin,
            v.value,
            v.rows as ref_rows,
            0 as cur_rows
        from drift_ref_values as v
        inner join drift_walked_bins as b on v.column_id = b.column_id and v.bin = b.bin
        where v.value is not null
        union all
        select
            b.pair_id,
            v.bin,
            v.value,
            0 as ref_rows,
            v.rows as cur_rows
        from drift_cur_values as v
        inner join drift_walked_bins as b on {{ _drift_on('v', 'b', by_period) }} and v.bin = b.bin
        where v.value is not null
    ) as walked
    group by pair_id, bin, value
),

-- one sorted walk per comparison over the walked values (bins are intervals, so the values' order
-- is the bins'): each value's step and offset in its bin, and both sides' rows at or below it
-- (packed)
drift_value_walk as (
    select
        *,
        cur_numeric * ref_after - ref_numeric * cur_after as gap
    from (
        select
            *,
            {{ _drift_unpacked('packed') }}
        from (
            select
                v.pair_id,
                v.ref_rows,
                v.cur_rows,
                b.ref_numeric,
                b.cur_numeric,
                b.radix,
                -- as _drift_binned computes it
                v.value - b.ref_mean - b.anchor as offset_value,
                b.cur_numeric * v.ref_rows - b.ref_numeric * v.cur_rows as step,
                b.packed_offset
                + sum(v.ref_rows * b.radix + v.cur_rows) over running as packed
            from drift_walked_values as v
            inner join drift_walked_bins as b on v.pair_id = b.pair_id and v.bin = b.bin
            window running as (partition by v.pair_id order by v.value rows between unbounded preceding and current row)
        ) as walked
    ) as unpacked
),

-- per comparison, the largest |d| (KS) and the area under |d| (Wasserstein), both times
-- ref_numeric * cur_numeric; a bin spans [anchor, anchor + bin_width)
drift_distances as (
    select
        pair_id,
        max(abs_gap) as ks_gap,
        sum(area) as area
    from (
        -- per bin: d after it, which holds over the empty bins up to the next, and the area over
        -- the bin itself. Where d keeps one sign: the integral of d over it, d after the bin over
        -- its width less each value's step over the part of the bin before the value (its
        -- offset). A walked bin: summed by parts, d after it over the bin's width, plus (below)
        -- each value's offset times (|d just before it| - |d at it|)
        select
            pair_id,
            abs(gap_after) as abs_gap,
            abs(gap_after) * empty_after * bin_width
            + case when walk_values then abs(gap_after) * bin_width else abs(gap_after * bin_width - step_offsets) end
            as area
        from drift_bin_checks
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
drift_counts as (
    select
        pair_id,
        least(floor(10 * ref_after / ref_numeric), 9) as decile,
        cast(null as {{ dbt.type_string() }}) as category,
        ref_rows,
        cur_rows
    from (
        select pair_id, ref_after, ref_numeric, ref_rows, cur_rows from drift_bin_checks where not walk_values
        union all
        select pair_id, ref_after, ref_numeric, ref_rows, cur_rows from drift_value_walk
    ) as numbers
    union all
    select
        p.pair_id,
        null as decile,
        r.category,
        r.total_rows as ref_rows,
        0 as cur_rows
    from drift_pairs as p
    inner join drift_ref_counts as r on {{ _drift_on('p', 'r', by_column) }}
    where r.category is not null
    union all
    select
        p.pair_id,
        null as decile,
        c.category,
        0 as ref_rows,
        c.cur_rows
    from drift_pairs as p
    inner join drift_cur_bins as c on {{ _drift_on('p', 'c', by_period) }}
    where c.category is not null
),

drift_shares as (
    select
        c.pair_id,
        c.ref_rows * 1.0 / p.ref_present as ref_share,
        c.cur_rows * 1.0 / p.cur_present as cur_share
    from (
        select
            pair_id,
            sum(ref_rows) as ref_rows,
            sum(cur_rows) as cur_rows
        from drift_counts
        group by pair_id, decile, category
    ) as c
    inner join drift_pairs as p on c.pair_id = p.pair_id
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
    case when p.kind = 'numeric' then p.mean_shift / nullif(n.ref_std, 0) end as mean_shift_std
from drift_pairs as p
left join drift_numeric as n
    on p.pair_id = n.pair_id
left join drift_divergences as v
    on p.pair_id = v.pair_id
{%- endmacro %}



{#- Drift of what each model version scored or served (mon_scored_distributions), per period,
    against the frozen reference registered with the version (reference_value_counts),
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
    from {{ ref('reference_value_counts') }}
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


{#- A side's rows (`relation`, with `keys` and `period`) of the reference's columns
    (drift_ref_columns), each with its column_id and, for a number, its bin, its deviation from
    the reference's mean and its offset from the bin's anchor. -#}
{%- macro _drift_binned(relation, keys, period) -%}
    select
        column_id,
        {% for c in period %}{{ c }}, {% endfor %}
        value,
        category,
        rows,
        bin,
        deviation,
        deviation - bin * bin_width as offset_value
    from (
        select
            c.column_id,
            c.bin_width,
            {% for c in period %}v.{{ c }}, {% endfor %}
            v.value,
            v.category,
            v.rows,
            v.value - c.mean_value as deviation,
            -- a double, so that infinities have bins too
            floor((v.value - c.mean_value) / c.bin_width) as bin
        from drift_ref_columns as c
        inner join {{ relation }} as v on {{ _drift_on('c', 'v', keys + ['column_name']) }}
    ) as binned
{%- endmacro %}


{#- The reference's and the current side's rows (ref_after, cur_after) out of `packed` =
    ref_after * radix + cur_after, radix being n_cur + 1 (> cur_after): both integers, so % and the
    division are exact. -#}
{%- macro _drift_unpacked(packed) -%}
    ({{ packed }} - {{ packed }} % radix) / radix as ref_after,
            {{ packed }} % radix as cur_after
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
