{#- Records of every source checked by a declared contract (var contract_sources, each with a
    stg_<source>__validated model built by macros/contracts.sql) that broke it, with why. -#}
{%- set sources = var('contract_sources') %}

with
{%- for s in sources %}
    validated_{{ loop.index }} as (
        select
            '{{ s }}' as source,
            batch_id,
            line,
            reason,
            reason_detail,
            file,
            ingested_at,
            payload,
            payload_bytes
        from {{ ref('stg_' ~ s ~ '__validated') }}
        where reason is not null
    ),
{%- endfor %}

final as (
    {%- for s in sources %}
        select * from validated_{{ loop.index }}
        {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select * from final
