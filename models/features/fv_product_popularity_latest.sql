{#- The online copy of fv_product_popularity: its latest unexpired row per entity. -#}
{{ latest_feature_values('fv_product_popularity') }}
