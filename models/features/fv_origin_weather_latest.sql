{#- The online copy of fv_origin_weather: its latest unexpired row per entity. -#}
{{ latest_feature_values('fv_origin_weather') }}
