-- Warns (never fails the build) while monitoring shows a warning: see monitoring.mon_alerts.
{{ config(severity='warn', tags=['alerts']) }}

select
    alert_id,
    message
from {{ ref('mon_alerts') }}
where severity = 'warning'
