{#- The online copy of fv_carrier_delays: its latest unexpired row per entity. -#}
{{ latest_feature_values('fv_carrier_delays') }}
