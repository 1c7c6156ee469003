{#- The online copy of fv_flight_context: its latest unexpired row per entity. -#}
{{ latest_feature_values('fv_flight_context') }}
