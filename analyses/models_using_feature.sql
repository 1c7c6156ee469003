-- Which models use a feature, is any of those versions in production (holding an alias), and
-- what else (dashboards, applications) depends on those models' relations?
-- Change the feature name below; `keel dbt compile --select models_using_feature` renders it.
{% set feature = 'spend_7d' %}

with uses as (
    select
        lineage.model,
        lineage.version,
        lineage.aliases,
        lineage.feature_view,
        lineage.feature,
        lineage.upstream_sources
    from {{ ref('model_lineage') }} as lineage
    where lineage.feature = '{{ feature }}'
),

downstream as (
    -- exposures reading what an ML model exposure reads (its training set, later its predictions)
    select
        ml_model.exposure as model_name,
        string_agg(distinct neighbour.exposure, ', ') as downstream_exposures
    from {{ ref('exposure_catalog') }} as ml_model
    inner join {{ ref('exposure_catalog') }} as neighbour
        on ml_model.depends_on = neighbour.depends_on and ml_model.exposure != neighbour.exposure
    where ml_model.exposure_type = 'ml'
    group by ml_model.exposure
)

select
    uses.*,
    downstream.downstream_exposures
from uses
left join downstream on uses.model = downstream.model_name
order by uses.aliases is null asc, uses.model asc, uses.version desc
