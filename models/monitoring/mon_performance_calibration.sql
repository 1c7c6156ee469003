{#- Calibration of each model version per period once labels are known: for each of the spec's
    `calibration_bins` equal-width score bins that has rows, the mean score and the observed
    positive rate (sklearn.calibration.calibration_curve, strategy 'uniform': a score on an edge
    falls in the lower bin). -#}

with labelled as (
    select * from {{ ref('mon_labelled_predictions') }}
),

binned as (
    select
        model,
        version,
        day,
        bins,
        score,
        label,
        least(greatest(cast(ceil(score * bins) as integer) - 1, 0), bins - 1) as bin
    from labelled
),

final as (
    select
        model,
        version,
        day,
        bin,
        bin * 1.0 / max(bins) as lower_bound,
        (bin + 1) * 1.0 / max(bins) as upper_bound,
        count(*) as rows,
        avg(score) as mean_score,
        avg(label * 1.0) as positive_rate
    from binned
    group by model, version, day, bin
)

select * from final
