{#- Drift of each model version's predictions, per period (var monitoring_grain): what it scored or
    served (mon_scored_distributions) against the frozen reference registered with the version
    (registry.reference_distributions, role prediction). The statistics are defined in
    macros/drift.sql. -#}

with reference_counts as (
    select
        model,
        version,
        column_name,
        value,
        category,
        rows
    from {{ source('registry', 'reference_distributions') }}
    where role = 'prediction'
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
    where role = 'prediction'
),

final as (
    {{ drift_statistics('reference_counts', 'scored_counts', ['model', 'version'], ['day']) }}
)

select * from final
