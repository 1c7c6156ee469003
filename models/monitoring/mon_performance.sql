{#- Performance of each model version per period once labels are known (mon_labelled_predictions:
    only closed label windows count). Each metric is defined as scikit-learn's on the same rows:
    - roc_auc: exact and rank-based (Mann-Whitney), a tied positive and negative counting one
      half, which is what roc_auc_score's trapezoids give; null unless both classes are present;
    - log_loss: scores clipped to [eps, 1 - eps] with eps the float64 machine epsilon;
    - brier: mean squared difference of score and label;
    - precision and recall of `score >= threshold` (null when undefined, sklearn's
      zero_division=nan);
    - expected_calibration_error: the rows-weighted mean gap between mean score and positive
      rate over mon_performance_calibration's bins. -#}
{%- set eps = 2.220446049250313e-16 %}

with labelled as (
    select * from {{ ref('mon_labelled_predictions') }}
),

-- rows per distinct score: ties share a group, so each positive counts the negatives below it
-- plus half of the negatives tied with it
score_groups as (
    select
        model,
        version,
        day,
        score,
        count(*) as rows,
        sum(label) as positives
    from labelled
    group by model, version, day, score
),

ranked as (
    select
        *,
        sum(rows - positives) over (
            partition by model, version, day order by score rows between unbounded preceding and current row
        ) - (rows - positives) as negatives_below
    from score_groups
),

auc as (
    select
        model,
        version,
        day,
        sum(positives * (negatives_below + 0.5 * (rows - positives))) as wins
    from ranked
    group by model, version, day
),

pointwise as (
    select
        model,
        version,
        day,
        label,
        score,
        threshold,
        least(greatest(score, {{ eps }}), 1 - {{ eps }}) as clipped,
        case when score >= threshold then 1 else 0 end as predicted
    from labelled
),

totals as (
    select
        model,
        version,
        day,
        count(*) as rows,
        sum(label) as positives,
        max(threshold) as threshold,
        -avg(label * ln(clipped) + (1 - label) * ln(1 - clipped)) as log_loss,
        avg((score - label) * (score - label)) as brier,
        sum(predicted * label) as true_positives,
        sum(predicted) as predicted_positives,
        avg(score) as mean_score
    from pointwise
    group by model, version, day
),

calibration as (
    select
        model,
        version,
        day,
        sum(rows * abs(mean_score - positive_rate)) / sum(rows) as expected_calibration_error
    from {{ ref('mon_performance_calibration') }}
    group by model, version, day
),

final as (
    select
        t.model,
        t.version,
        t.day,
        t.rows,
        t.positives,
        t.mean_score,
        t.log_loss,
        t.brier,
        t.threshold,
        c.expected_calibration_error,
        t.positives * 1.0 / t.rows as positive_rate,
        case
            when t.positives > 0 and t.positives < t.rows
                then a.wins / (t.positives * 1.0 * (t.rows - t.positives))
        end as roc_auc,
        t.true_positives * 1.0 / nullif(t.predicted_positives, 0) as precision,
        t.true_positives * 1.0 / nullif(t.positives, 0) as recall
    from totals as t
    inner join auc as a on t.model = a.model and t.version = a.version and t.day = a.day
    inner join calibration as c on t.model = c.model and t.version = c.version and t.day = c.day
)

select * from final
