-- Which models use a feature, and is any of those versions in production (holding an alias)?
-- Change the feature name below; `keel dbt compile --select models_using_feature` renders it.
{% set feature = 'spend_7d' %}

select
    lineage.model,
    lineage.version,
    lineage.aliases,
    lineage.feature_view,
    lineage.feature,
    lineage.upstream_sources
from {{ ref('model_lineage') }} as lineage
where lineage.feature = '{{ feature }}'
order by lineage.aliases is null asc, lineage.model asc, lineage.version desc
