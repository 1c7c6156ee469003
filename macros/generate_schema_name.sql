{#- Layers own their schemas (raw, staging, features, ...): use the configured name as-is instead of
    dbt's default "<target schema>_<name>", so every target has the same, predictable names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
