{#- One row per model version and feature it was trained on: the feature view it comes from and
    that view's raw sources, with the version's current aliases. Reading from the registry's
    record of each version, not from today's spec, so old versions keep their own lineage. -#}

with version_features as (
    select
        model,
        version,
        {{ json_array_values('features', 'name') }} as feature,
        {{ json_array_values('features', 'view') }} as feature_view
    from {{ source('registry', 'model_versions') }}
),

final as (
    select
        vf.model,
        vf.version,
        v.aliases,
        vf.feature,
        vf.feature_view,
        c.description,
        c.upstream_sources
    from version_features as vf
    left join {{ ref('feature_catalog') }} as c on vf.feature_view = c.feature_view and vf.feature = c.feature
    left join {{ ref('model_versions_current') }} as v on vf.model = v.model and vf.version = v.version
)

select * from final
