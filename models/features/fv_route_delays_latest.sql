{#- The online copy of fv_route_delays: its latest unexpired row per entity. -#}
{{ latest_feature_values('fv_route_delays') }}
