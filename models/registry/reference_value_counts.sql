{#- The frozen references of registry.reference_distributions one row per column and distinct
    value (nulls are a row with neither value nor category): the form macros/drift.sql compares. -#}

with final as (
    {{ unnest_parallel(source('registry', 'reference_distributions'),
                       ['model', 'version', 'role', 'column_name'], ['rows', 'value', 'category']) }}
)

select * from final
