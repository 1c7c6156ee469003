-- What changed between two versions of a model: parameters, data, code and every test metric.
{% set model = 'purchase_propensity' %}
{% set old_version = 1 %}
{% set new_version = 2 %}

with versions as (
    select *
    from {{ ref('model_versions_current') }}
    where model = '{{ model }}' and version in ({{ old_version }}, {{ new_version }})
),

metrics as (
    select
        v.version,
        m.slice,
        m.metric,
        m.value
    from versions as v
    inner join {{ source('registry', 'metrics') }} as m on v.run_id = m.run_id
    where m.split = 'test'
),

setup as (
    -- one row per property that differs
    select
        property,
        max(case when version = {{ old_version }} then setting end) as old_setting,
        max(case when version = {{ new_version }} then setting end) as new_setting
    from versions
    unpivot (setting for property in (
        estimator, params, data_sha256, git_commit, artifact_sha256
    ))
    group by property
),

scores as (
    select
        coalesce(slice, 'all rows') || ': ' || metric as property,
        cast(max(case when version = {{ old_version }} then value end) as varchar) as old_setting,
        cast(max(case when version = {{ new_version }} then value end) as varchar) as new_setting
    from metrics
    group by slice, metric
)

select * from setup
where old_setting is distinct from new_setting
union all
select * from scores
order by property
