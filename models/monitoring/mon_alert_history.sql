{#- Every alert mon_alerts has ever raised, with when it was first seen. Append-only: a run adds
    the alerts it has not recorded before, and `full_refresh: false` keeps `dbt build
    --full-refresh` from rebuilding it, so alert history survives like raw logs do. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
) }}

with alerts as (
    select * from {{ ref('mon_alerts') }}
),

final as (
    {%- set started = run_started_at.strftime('%Y-%m-%d %H:%M:%S') %}
    select
        a.alert_id,
        a.day,
        a.check_name,
        a.severity,
        a.model,
        a.version,
        a.source,
        a.subject,
        a.statistic,
        a.value,
        a.threshold,
        a.message,
        cast('{{ started }}' as timestamp) as first_seen_at
    from alerts as a
    {%- if is_incremental() %}
        where a.alert_id not in (select h.alert_id from {{ this }} as h)
    {%- endif %}
)

select * from final
