{#- The current champion of each model, since when and by whose decision. -#}

with final as (
    select
        h.model,
        h.version,
        h.valid_from as champion_since,
        h.changed_by,
        h.reason,
        h.forced
    from {{ ref('model_alias_history') }} as h
    where h.alias = 'champion' and h.valid_to is null
)

select * from final
