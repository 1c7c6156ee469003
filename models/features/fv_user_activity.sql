{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['user_id', 'feature_ts'],
        on_schema_change='fail',
    )
}}

{#- One row per user per day from their first active day until `feature_window_days` - 1 days
    after their last (while some trailing window holds activity): activity features as known at
    the end of that day (feature_ts = the next midnight, UTC). Rows continue on quiet days so
    shorter windows fall back to zero; each row holds for its day (ttl 1 day), so after the last
    one the user is not served at all rather than served stale counts.

    Two ways to the same values (a test holds incremental builds, late data included, equal to a
    full refresh):
    - window functions over each user's days: a full build, and an incremental run that writes
      more than `slide_days` days (late data), which reads the `feature_window_days` - 1 days
      before the first day it writes as context, and nothing older;
    - sliding windows: an incremental run of a day or a few starts from the stored row of the day
      before the first one it writes, adds the days that enter each window and subtracts those
      that leave it. It reads those days and the stored rows of one day, so a new day costs work
      in proportion to that day and to the users with a row on it, never to the history. One
      part still looks across the window: a distinct count changes only by the categories seen on
      the days entering or leaving it, but whether one was also seen in between takes a narrow
      scan of the window's sightings (what a stored last sighting per user and category would
      save). Per user a slide reads up to 3 x (days written) active days, against
      ~`feature_window_days` for the window functions: past `slide_days` days that stops paying. -#}
{%- set window = var('feature_window_days') %}
{%- set slide_days = 7 %}
{#- (measure, trailing windows in days): what both ways sum -#}
{%- set sums = [
    ('item_views', [1, 7, window]), ('add_to_carts', [1, 7, window]), ('purchases', [1, 7, window]),
    ('spend', [1, 7, window]), ('page_views', [7, window]), ('sessions', [7, window]),
    ('cart_sessions', [window]), ('converted_cart_sessions', [window]),
] %}
{#- the windows longer than a day: the ones that slide -#}
{%- set trailing_windows = [7, window] %}
{%- set days = days_to_write(ref('user_activity_daily'), 'activity_day') %}
{%- set first_output = days.first if days else none %}
{%- set slide = days and days.last - days.first < slide_days %}
{%- if slide %}
    {#- the anchor: the stored day the windows slide from -#}
    {%- set anchor_day = days.first - 1 %}
    {%- set last_day_number = days.last %}
    {#- the active days a slide reads: those written, and those leaving each longer window -#}
    {%- set read_ranges = [(anchor_day, last_day_number)] %}
    {%- for n in trailing_windows %}
        {%- do read_ranges.append((anchor_day - n, last_day_number - n)) %}
    {%- endfor %}
{%- endif %}

with activity as (
    select
        *,
        {{ day_number('activity_day') }} as day_number
    from {{ ref('user_activity_daily') }}
    where {{ days_read('activity_day', first_output, window, read_ranges if slide) }}
),

category_days as (
    select
        user_id,
        item_category,
        activity_day,
        {{ day_number('activity_day') }} as day_number
    from {{ ref('user_categories_daily') }}
    {#- a slide also needs each category's last sighting in the window before the days written #}
    where {{ days_read('activity_day', first_output, window, [(anchor_day - window, last_day_number)] if slide) }}
),

-- The two ways are alternatives at the top level, not a block: sqlfluff would indent them as one.
-- noqa: disable=LT02
{% if not slide -%}
last_day as (
    select {{ day_number('max(activity_day)') }} as day_number
    from {{ ref('user_activity_daily') }}
),

-- the rows to write: every user's dense days from first_output on (all days on a full build)
grid as (
    {{ activity_grid('activity', 'user_id', window, '(select l.day_number from last_day as l)', first_output) }}
),

-- window functions over each user's days, which read every day with a row to write and every
-- active day
days as (
    select
        user_id,
        day_number
    from grid
    union
    select
        user_id,
        day_number
    from activity
),

daily as (
    select
        g.user_id,
        g.day_number,
        {%- for measure, _ in sums %}
        coalesce(a.{{ measure }}, 0) as {{ measure }},
        {%- endfor %}
        case when a.user_id is not null then g.day_number end as visit_day_number,
        case when a.purchases > 0 then g.day_number end as purchase_day_number
    from days as g
    left join activity as a on g.user_id = a.user_id and g.day_number = a.day_number
),

{#- Distinct categories over N days cannot be summed from daily counts. Each sighting of a
    category covers the days until N days later or its next sighting, whichever comes first, so
    no day is covered twice; counting +1 where a cover starts and -1 where it ends, the running
    total on day D is the number of categories seen in the N days to D. #}

category_sightings as (
    select
        user_id,
        item_category,
        day_number,
        lead(day_number) over (partition by user_id, item_category order by day_number) as next_day_number
    from category_days
),

category_changes as (
    {%- for n in trailing_windows %}
        select
            user_id,
            day_number,
        {%- for m in trailing_windows %}
            {{ 1 if m == n else 0 }} as starts_{{ m }}d{{ ',' if not loop.last }}
        {%- endfor %}
        from category_sightings
        union all
        select
            user_id,
            case
                when next_day_number < day_number + {{ n }} then next_day_number
                else day_number + {{ n }}
            end as day_number,
        {%- for m in trailing_windows %}
            {{ -1 if m == n else 0 }} as starts_{{ m }}d{{ ',' if not loop.last }}
        {%- endfor %}
        from category_sightings
        union all
    {%- endfor %}
    -- every grid day, so each has a running total
    select
        user_id,
        day_number,
    {%- for m in trailing_windows %}
        0 as starts_{{ m }}d{{ ',' if not loop.last }}
    {%- endfor %}
    from grid
),

category_totals as (
    select
        user_id,
        day_number,
    {%- for n in trailing_windows %}
        sum(sum(starts_{{ n }}d)) over (
            partition by user_id order by day_number rows between unbounded preceding and current row
            ) as distinct_categories_{{ n }}d{{ ',' if not loop.last }}
    {%- endfor %}
    from category_changes
    group by user_id, day_number
),

trailing_sums as (
    select
        d.user_id,
        d.day_number,
        {%- for measure, windows in sums %}
            {%- for n in windows %}
            {{ trailing_sum('d.' ~ measure, n, 'd.user_id') }} as {{ measure }}_{{ n }}d,
            {%- endfor %}
        {%- endfor %}
        max(d.visit_day_number) over (
            partition by d.user_id order by d.day_number rows between unbounded preceding and current row
        ) as last_visit_day_number,
        max(d.purchase_day_number) over (
            partition by d.user_id order by d.day_number rows between unbounded preceding and current row
        ) as last_purchase_day_number
    from daily as d
),

windowed as (
    select
        t.*,
        {%- for n in trailing_windows %}
        c.distinct_categories_{{ n }}d{{ ',' if not loop.last }}
        {%- endfor %}
    from trailing_sums as t
    inner join category_totals as c on t.user_id = c.user_id and t.day_number = c.day_number
    {% if first_output is not none -%}
        where t.day_number >= {{ first_output }}
    {%- endif %}
),

{% else -%}
-- the stored row of the day before the first one written: where each user's windows slide from
anchor as (
    select
        user_id,
        {%- for measure, windows in sums %}
            {#- spend is summed in exact cents (user_activity_daily): the stored double rounds back
                to them, so sliding adds no rounding error #}
            {%- for n in windows if n > 1 %}
        cast({{ measure }}_{{ n }}d as {{ 'decimal(18, 2)' if measure == 'spend' else 'bigint' }}) as {{ measure }}_{{ n }}d,
            {%- endfor %}
        {%- endfor %}
        {%- for n in trailing_windows %}
        distinct_categories_{{ n }}d,
        {%- endfor %}
        {{ anchor_day }} - days_since_last_visit as last_visit_day_number,
        {{ anchor_day }} - days_since_last_purchase as last_purchase_day_number
    from {{ this }}
    where feature_ts = {{ end_of_day_number(anchor_day) }}
),

written_days as (
    select {{ anchor_day + 1 }} + offset_days as day_number
    from ({{ day_offsets([last_day_number - anchor_day, 1] | max) }}) as o
    where offset_days < {{ last_day_number - anchor_day }}
),

-- the users who can have a row on a day written: the anchor's and those active since
users as (
    select user_id from anchor
    union
    select user_id from activity
    where day_number > {{ anchor_day }}
),

-- per user and day written, what changed since the anchor: the days that entered each window
-- minus those that left it, and the last visit and purchase since
changes as (
    select
        a.user_id,
        d.day_number,
        {%- for measure, windows in sums %}
            {%- for n in windows %}
                {%- if n == 1 %}
        coalesce(sum(a.{{ measure }}) filter (where a.day_number = d.day_number), 0) as {{ measure }}_{{ n }}d,
                {%- else %}
        coalesce(sum(a.{{ measure }}) filter (where a.day_number > {{ anchor_day }}), 0)
        - coalesce(
            sum(a.{{ measure }}) filter (
                where a.day_number > {{ anchor_day - n }} and a.day_number <= d.day_number - {{ n }}
            ),
            0
        ) as {{ measure }}_{{ n }}d,
                {%- endif %}
            {%- endfor %}
        {%- endfor %}
        max(a.day_number) filter (where a.day_number > {{ anchor_day }}) as last_visit_day_number,
        max(a.day_number) filter (where a.day_number > {{ anchor_day }} and a.purchases > 0)
            as last_purchase_day_number
    from activity as a
    -- activity holds only the days a slide reads (see read_ranges)
    inner join written_days as d on a.day_number <= d.day_number
    group by a.user_id, d.day_number
),

{#- A category is in a window on day D if its last sighting up to D is. Between the anchor and a
    day written, only categories seen on the days written or on the days leaving a window can
    enter or leave one; for those, their last sighting before the days written and every
    sighting since decide. #}
category_candidates as (
    select distinct
        user_id,
        item_category
    from category_days
    where {{ days_read('activity_day', first_output, window, read_ranges) }}
),

candidate_sightings as (
    select
        c.user_id,
        c.item_category,
        max(c.day_number) as day_number
    from category_days as c
    inner join category_candidates as k on c.user_id = k.user_id and c.item_category = k.item_category
    where c.day_number <= {{ anchor_day }}
    group by c.user_id, c.item_category
    union all
    select
        user_id,
        item_category,
        day_number
    from category_days
    where day_number > {{ anchor_day }}
),

-- each candidate's last sighting up to each day written, and before the days written
candidate_last_seen as (
    select
        s.user_id,
        s.item_category,
        d.day_number,
        max(s.day_number) as last_seen,
        max(s.day_number) filter (where s.day_number <= {{ anchor_day }}) as last_seen_before
    from candidate_sightings as s
    inner join written_days as d on s.day_number <= d.day_number
    group by s.user_id, s.item_category, d.day_number
),

-- per user and day written, the change in distinct categories since the anchor
category_changes as (
    select
        user_id,
        day_number,
        {%- for n in trailing_windows %}
        count(*) filter (where last_seen > day_number - {{ n }})
        - count(*) filter (where last_seen_before > {{ anchor_day - n }}) as distinct_categories_{{ n }}d
            {{- ',' if not loop.last }}
        {%- endfor %}
    from candidate_last_seen
    group by user_id, day_number
),

windowed as (
    select
        u.user_id,
        d.day_number,
        {%- for measure, windows in sums %}
            {%- for n in windows %}
                {%- if n == 1 %}
        coalesce(c.{{ measure }}_{{ n }}d, 0) as {{ measure }}_{{ n }}d,
                {%- else %}
        coalesce(s.{{ measure }}_{{ n }}d, 0) + coalesce(c.{{ measure }}_{{ n }}d, 0) as {{ measure }}_{{ n }}d,
                {%- endif %}
            {%- endfor %}
        {%- endfor %}
        {%- for n in trailing_windows %}
        coalesce(s.distinct_categories_{{ n }}d, 0) + coalesce(k.distinct_categories_{{ n }}d, 0)
            as distinct_categories_{{ n }}d,
        {%- endfor %}
        -- a visit or purchase since the anchor is later than any before it
        coalesce(c.last_visit_day_number, s.last_visit_day_number) as last_visit_day_number,
        coalesce(c.last_purchase_day_number, s.last_purchase_day_number) as last_purchase_day_number
    from users as u
    cross join written_days as d
    left join anchor as s on u.user_id = s.user_id
    left join changes as c on u.user_id = c.user_id and d.day_number = c.day_number
    left join category_changes as k on u.user_id = k.user_id and d.day_number = k.day_number
    -- a row exists while its longest window holds a visit
    where coalesce(c.last_visit_day_number, s.last_visit_day_number) > d.day_number - {{ window }}
),

{% endif -%}
-- noqa: enable=LT02

final as (
    select
        -- keys
        w.user_id,
        {{ end_of_day_number('w.day_number') }} as feature_ts,
        -- activity counts over trailing windows
        {%- for n in [1, 7, window] %}
            cast(w.item_views_{{ n }}d as bigint) as item_views_{{ n }}d,
            cast(w.add_to_carts_{{ n }}d as bigint) as add_to_carts_{{ n }}d,
            cast(w.purchases_{{ n }}d as bigint) as purchases_{{ n }}d,
            cast(w.spend_{{ n }}d as double) as spend_{{ n }}d,
        {%- endfor %}
        {%- for n in [7, window] %}
            cast(w.page_views_{{ n }}d as bigint) as page_views_{{ n }}d,
            cast(w.sessions_{{ n }}d as bigint) as sessions_{{ n }}d,
        {%- endfor %}
        {%- for n in trailing_windows %}
            cast(w.distinct_categories_{{ n }}d as bigint) as distinct_categories_{{ n }}d,
        {%- endfor %}
        cast(w.cart_sessions_{{ window }}d as bigint) as cart_sessions_{{ window }}d,
        cast(w.converted_cart_sessions_{{ window }}d as bigint) as converted_cart_sessions_{{ window }}d,
        -- ratios and recency
        cast(
            1.0 - w.converted_cart_sessions_{{ window }}d / nullif(w.cart_sessions_{{ window }}d, 0)
            as double
        ) as cart_abandonment_rate_{{ window }}d,
        cast(w.day_number - w.last_visit_day_number as integer) as days_since_last_visit,
        -- within the window only, like every other feature: an unbounded recency would grow with the
        -- length of the logs, so training and scoring would see different distributions
        cast(
            case
                when w.day_number - w.last_purchase_day_number < {{ window }}
                    then w.day_number - w.last_purchase_day_number
            end
            as integer
        ) as days_since_last_purchase,
        -- the last raw batch this run had seen in both its inputs: the next run's watermark. The
        -- older of the two, so a run that read user_categories_daily before it caught up (a
        -- selection without it, a failed build) is made up by the next one: both inputs are
        -- keyed by (user, day), so the days to write follow user_activity_daily's new rows
        least(
            (select max(a.loaded_through_batch) from {{ ref('user_activity_daily') }} as a),
            (select max(c.loaded_through_batch) from {{ ref('user_categories_daily') }} as c)
        ) as loaded_through_batch
    from windowed as w
)

-- stored in day order: a slide reads the anchor day's rows only, and DuckDB skips the blocks whose
-- min/max feature_ts rule them out, so the read does not grow with the history
select * from final
order by feature_ts
