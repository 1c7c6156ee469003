{#- The online copy of fv_user_activity: its latest unexpired row per entity. -#}
{{ latest_feature_values('fv_user_activity') }}
