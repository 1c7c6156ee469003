{#- One row per online prediction logged by `keel serve` and ingested as source prediction_log.
    A line that is not a well-formed prediction record keeps its reason instead of its fields. -#}

with source as (
    select
        batch_id,
        line,
        payload,
        ingested_at
    from {{ source('raw', 'events') }}
    where source = 'prediction_log'
),

parsed as (
    select
        batch_id,
        line,
        payload,
        ingested_at,
        {{ json_is_valid('payload') }} as is_json
    from source
),

typed as (
    select
        -- keys
        p.batch_id,
        p.line,
        -- ids
        case when p.is_json then {{ json_field(json_strings('p.payload', ['$.request_id']), 1) }} end
            as request_id,
        case when p.is_json then {{ json_field(json_strings('p.payload', ['$.model']), 1) }} end as model,
        {{ try_cast_as("case when p.is_json then " ~ json_field(json_strings('p.payload', ['$.version']), 1)
            ~ " end", 'integer') }} as version,
        case when p.is_json then {{ json_field(json_strings('p.payload', ['$.entity']), 1) }} end as entity,
        -- measures
        {{ try_cast_as("case when p.is_json then " ~ json_field(json_strings('p.payload', ['$.score']), 1)
            ~ " end", 'double') }} as score,
        case when p.is_json then {{ json_field(json_strings('p.payload', ['$.features']), 1) }} end
            as features,
            -- timestamps
        {{ try_cast_as("case when p.is_json then " ~ json_field(json_strings('p.payload', ['$.served_at']), 1)
            ~ " end", 'timestamp') }} as served_at,
        {{ try_cast_as("case when p.is_json then "
            ~ json_field(json_strings('p.payload', ['$.features_as_of']), 1) ~ " end", 'timestamp') }}
            as features_as_of,
        p.ingested_at,
        p.is_json
    from parsed as p
),

final as (
    select
        *,
        case
            when not is_json then 'invalid_json'
            when request_id is null or model is null or version is null or score is null or served_at is null
                then 'missing_required_field'
        end as reason
    from typed
)

select * exclude (is_json) from final
