{#- Each alias's history as intervals: "which version was champion on date D" is
    `where alias = 'champion' and valid_from <= D and (valid_to > D or valid_to is null)`. -#}

with events as (
    select * from {{ source('registry', 'alias_events') }}
),

final as (
    select
        model,
        alias,
        version,
        changed_by,
        reason,
        forced,
        checks,
        changed_at as valid_from,
        lead(changed_at) over (partition by model, alias order by changed_at) as valid_to
    from events
)

select * from final
