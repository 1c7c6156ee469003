{#- Every prediction Keel made, batch or online, in one shape: what was scored is what
    monitoring sees. -#}

with batch as (
    select
        'batch' as kind,
        scoring_run as run_or_request,
        model,
        version,
        entity,
        as_of as features_as_of,
        scored_at as predicted_at,
        score
    from {{ source('predictions', 'batch_scores') }}
),

online as (
    select
        'online' as kind,
        request_id as run_or_request,
        model,
        version,
        entity,
        features_as_of,
        served_at as predicted_at,
        score
    from {{ ref('stg_prediction_log') }}
    where reason is null
),

final as (
    select * from batch
    union all
    select * from online
)

select * from final
