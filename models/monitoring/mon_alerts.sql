{#- One row per breach of an alert threshold, per check, subject and period: drift of a feature
    or of the scores, a performance drop once labels are known, serving skew, and per source and
    ingestion day a data-quality breach (quarantine rate, volume anomaly, schema change). Thresholds are
    the seed alert_thresholds, overridden per model by its spec's meta.keel.alerts; a value above
    `critical` is critical, else above `warning` a warning. Drift and performance count only
    periods with at least var alert_min_rows rows.

    dbt tests over this model (tests/dbt/alerts_*.sql) warn on warnings and fail on critical
    alerts, so `dbt build` shows them; mon_alert_history keeps every alert ever raised. -#}
-- depends_on: {{ ref('fv_user_activity') }}
-- depends_on: {{ ref('fv_product_popularity') }}
{%- set blocks = ml_models() %}
{%- set min_rows = var('alert_min_rows') %}

-- The overrides are generated from the specs; sqlfluff renders them without dbt's graph.
-- noqa: disable=LT02
with defaults as (
    select
        check_name,
        statistic,
        cast(warning as double) as warning,
        cast(critical as double) as critical
    from {{ ref('alert_thresholds') }}
),

overrides as (
    {%- for block in blocks %}
        {%- for check_name, statistics in block.spec.get('alerts', {}).items() %}
            {%- for statistic, levels in statistics.items() %}
    select
        '{{ block.model }}' as model,
        '{{ check_name }}' as check_name,
        '{{ statistic }}' as statistic,
        cast({{ levels.get('warning', 'null') }} as double) as warning,
        cast({{ levels.get('critical', 'null') }} as double) as critical
    union all
            {%- endfor %}
        {%- endfor %}
    {%- endfor %}
    select
        cast(null as {{ dbt.type_string() }}) as model,
        check_name,
        statistic,
        warning,
        critical
    from defaults
    where false
),

test_metrics as (
    select
        model,
        version,
        roc_auc
    from {{ ref('model_versions_current') }}
),

observations as (
    select
        'feature_drift' as check_name,
        case when kind = 'categorical' then 'js_distance' else 'wasserstein_norm' end as statistic,
        model,
        version,
        day,
        column_name as subject,
        case when kind = 'categorical' then js_distance else wasserstein_norm end as value
    from {{ ref('mon_feature_drift') }}
    where current_rows >= {{ min_rows }}
    union all
    select
        'prediction_drift' as check_name,
        'wasserstein_norm' as statistic,
        model,
        version,
        day,
        column_name as subject,
        wasserstein_norm as value
    from {{ ref('mon_prediction_drift') }}
    where current_rows >= {{ min_rows }}
    union all
    select
        'performance' as check_name,
        'roc_auc_drop' as statistic,
        p.model,
        p.version,
        p.day,
        'roc_auc' as subject,
        t.roc_auc - p.roc_auc as value
    from {{ ref('mon_performance') }} as p
    inner join test_metrics as t on p.model = t.model and p.version = t.version
    where p.rows >= {{ min_rows }}
    union all
    select
        'performance' as check_name,
        'expected_calibration_error' as statistic,
        model,
        version,
        day,
        'calibration' as subject,
        expected_calibration_error as value
    from {{ ref('mon_performance') }}
    where rows >= {{ min_rows }}
    union all
    select
        'serving_skew' as check_name,
        'skew_rate' as statistic,
        model,
        version,
        served_date as day,
        'features' as subject,
        skew_rate as value
    from {{ ref('mon_serving_skew') }}
    union all
    select
        'data_quality' as check_name,
        'quarantine_rate' as statistic,
        null as model,
        null as version,
        day,
        source as subject,
        quarantine_rate as value
    from {{ ref('mon_data_quality') }}
    union all
    select
        'data_quality' as check_name,
        'abs_volume_zscore' as statistic,
        null as model,
        null as version,
        day,
        source as subject,
        abs(volume_zscore) as value
    from {{ ref('mon_data_quality') }}
    union all
    select
        'data_quality' as check_name,
        'schema_changes' as statistic,
        null as model,
        null as version,
        day,
        source as subject,
        -- the lists are comma-separated field names
        coalesce(length(new_fields) - length(replace(new_fields, ',', '')) + 1, 0)
        + coalesce(length(missing_fields) - length(replace(missing_fields, ',', '')) + 1, 0) as value
    from {{ ref('mon_data_quality') }}
),

thresholds as (
    select
        o.*,
        coalesce(m.warning, d.warning) as warning,
        coalesce(m.critical, d.critical) as critical
    from observations as o
    inner join defaults as d on o.check_name = d.check_name and o.statistic = d.statistic
    left join overrides as m
        on o.model = m.model and o.check_name = m.check_name and o.statistic = m.statistic
),

breaches as (
    select
        *,
        case when value > critical then 'critical' else 'warning' end as severity,
        case when value > critical then critical else warning end as threshold
    from thresholds
    where value > warning or value > critical
),

final as (
    select
        {{ dbt.hash("concat_ws('|', check_name, statistic, model, cast(version as " ~ dbt.type_string()
            ~ "), cast(day as " ~ dbt.type_string() ~ "), subject, severity)") }} as alert_id,
        day,
        check_name,
        severity,
        model,
        version,
        case when check_name = 'data_quality' then subject end as source,
        subject,
        statistic,
        value,
        threshold,
        check_name || ' ' || severity || ': '
        || coalesce(model || ' v' || cast(version as {{ dbt.type_string() }}) || ' ', '')
        || subject || ' ' || statistic || ' ' || cast(round(value, 4) as {{ dbt.type_string() }})
        || ' > ' || cast(threshold as {{ dbt.type_string() }}) || ' on '
        || cast(day as {{ dbt.type_string() }}) as message
    from breaches
)

select * from final
