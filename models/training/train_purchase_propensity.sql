{#- The purchase-propensity training set: each spine row (user, as_of, label) with the user's
    activity features as known at as_of, by the point-in-time join (macros/point_in_time.sql).
    A spine row whose user has no feature row within the view's ttl keeps null features. -#}

with spine as (
    select
        user_id,
        as_of,
        label
    from {{ ref('train_purchase_propensity_spine') }}
),

training_set as (
    {{ point_in_time_join('spine', 'as_of', ['fv_user_activity']) }}
)

select * from training_set
