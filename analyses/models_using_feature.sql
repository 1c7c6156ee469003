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
    -- exposures that consume a model's predictions (meta.keel.consumes)
    select
        consumes as model_name,
        string_agg(distinct exposure, ', ') as downstream_exposures
    from {{ ref('exposure_catalog') }}
    where consumes is not null
    group by consumes
)

select
    uses.*,
    downstream.downstream_exposures
from uses
left join downstream on uses.model = downstream.model_name
order by uses.aliases is null asc, uses.model asc, uses.version desc
