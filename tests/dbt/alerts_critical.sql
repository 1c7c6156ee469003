-- Fails the build while monitoring shows a critical alert: see monitoring.mon_alerts.
{{ config(severity='error', tags=['alerts']) }}

select
    alert_id,
    message
from {{ ref('mon_alerts') }}
where severity = 'critical'
