{#- Every model version as it stands now: its run, data window, headline test metrics and the
    aliases currently pointing at it. -#}

with versions as (
    select * from {{ source('registry', 'model_versions') }}
),

runs as (
    select * from {{ source('registry', 'runs') }}
),

headline as (
    select
        run_id,
        max(case when metric = 'roc_auc' then value end) as roc_auc,
        max(case when metric = 'pr_auc' then value end) as pr_auc,
        max(case when metric = 'log_loss' then value end) as log_loss,
        max(case when metric = 'brier' then value end) as brier,
        max(case when metric = 'rows' then value end) as test_rows
    from {{ source('registry', 'metrics') }}
    where split = 'test' and slice is null
    group by run_id
),

aliases as (
    select
        model,
        version,
        string_agg(alias, ', ' order by alias) as aliases
    from {{ ref('model_alias_history') }}
    where valid_to is null
    group by model, version
),

final as (
    select
        v.model,
        v.version,
        v.created_at,
        a.aliases,
        v.estimator,
        v.params,
        h.roc_auc,
        h.pr_auc,
        h.log_loss,
        h.brier,
        h.test_rows,
        r.rows as training_set_rows,
        r.train_from,
        r.train_to,
        r.test_from,
        r.test_to,
        r.raw_watermark,
        r.data_sha256,
        r.git_commit,
        v.artifact_sha256,
        v.run_id
    from versions as v
    inner join runs as r on v.run_id = r.run_id
    left join headline as h on v.run_id = h.run_id
    left join aliases as a on v.model = a.model and v.version = a.version
)

select * from final
