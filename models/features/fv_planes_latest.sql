{#- The online copy of fv_planes: its latest unexpired row per entity. -#}
{{ latest_feature_values('fv_planes') }}
