-- Macros that generate SQL per item: sqlfluff renders them without their arguments, where the
-- layout cannot be judged.
-- noqa: disable=LT02
{#- A source's contract, declared as data: every raw record of `source_name` checked and typed.

    validated_records(source_name, fields, key, null_markers=[''])
      fields        [{name, type, required, min, max, values, check}]: the JSON field `name` (a
                    CSV header is one), cast to `type` (a SQL type, or iso_timestamp: ISO-8601
                    text, with or without an offset, to UTC); `required` fields may not be null;
                    `min`/`max` bound numbers, `values` lists the accepted ones (text), `check`
                    is any other SQL condition a present value must meet (over the typed
                    columns, e.g. "dep_time % 100 < 60")
      key           the fields that identify a record: of several valid records with the same
                    key, the first received (batch, line) is kept and the others are duplicates
      null_markers  texts that mean "no value" (R writes NA, many exports write ''); such a
                    field is null, as if absent

    One row per raw record with: batch_id, line, file, ingested_at, each field typed, reason
    (a code of seeds/quarantine_reasons.csv, null when valid), reason_detail (the fields it is
    about), is_duplicate, and the record as received (payload, payload_bytes) where rejected.
    Reasons, first that applies: invalid_encoding, oversized_payload, invalid_json,
    not_an_object, missing_required_field, wrong_type, invalid_value. The clickstream has its own
    model (two producers' shapes); a source with one shape needs only this. -#}
{% macro validated_records(source_name, fields, key, null_markers=['']) -%}
    {%- set markers = null_markers | map('string') | list %}
    with source as (
        select
            batch_id,
            file,
            line,
            payload,
            payload_bytes,
            ingested_at
        from {{ source('raw', 'events') }}
        where source = '{{ source_name }}'
    ),

    screened as (
        select
            *,
            {{ record_is_json() }} as is_json
        from source
    ),

    extracted as (
        select
            *,
            case
                when is_json and starts_with(ltrim(payload), '{{ '{' }}')
                    then {{ json_strings('payload', contract_paths(fields)) }}
            end as fields
        from screened
    ),

    texts as (
        select
            batch_id,
            file,
            line,
            payload,
            payload_bytes,
            ingested_at,
            is_json,
            fields is not null as is_object
            {%- for f in fields %},
                case
                    when {{ json_field('fields', loop.index) }} in ({{ sql_strings(markers) }})
                        then null
                    else {{ json_field('fields', loop.index) }}
                end as {{ f.name }}_text
            {%- endfor %}
        from extracted
    ),

    typed as (
        select
            *
            {%- for f in fields %},
                {%- if f.type == 'iso_timestamp' %}
                    {{ iso_to_utc(f.name ~ '_text') }} as {{ f.name }}
                {%- else %}
                    {{ try_cast_as(f.name ~ '_text', f.type) }} as {{ f.name }}
                {%- endif %}
            {%- endfor %}
        from texts
    ),

    checked as (
        select
            *,
            case
                {{ unreadable_record_reasons() }}
                when {{ contract_failures(fields, 'missing') | join(' or ') or 'false' }}
                    then 'missing_required_field'
                when {{ contract_failures(fields, 'type') | join(' or ') or 'false' }} then 'wrong_type'
                when {{ contract_failures(fields, 'value') | join(' or ') or 'false' }} then 'invalid_value'
            end as reason
        from typed
    ),

    explained as (
        select
            batch_id,
            line,
            ingested_at
            {%- for f in fields %},
                {{ f.name }}
            {%- endfor %},
            reason,
            case reason
                {%- for kind, code in [('missing', 'missing_required_field'), ('type', 'wrong_type'),
                    ('value', 'invalid_value')] %}
                    when '{{ code }}' then concat_ws(
                        ', '
                        {%- for f in fields %}
                            {%- set failure = contract_failures([f], kind) %}
                            {%- if failure %},
                                case when {{ failure[0] }} then '{{ f.name }}' end
                            {%- endif %}
                        {%- endfor %}
                    )
                {%- endfor %}
            end as reason_detail,
            -- the record as received, for rejected rows only
            case when reason is not null then file end as file,
            case when reason is not null then payload end as payload,
            case when reason is not null then payload_bytes end as payload_bytes
        from checked
    ),

    final as (
        select
            *,
            reason is null and row_number() over (
                partition by reason is null, {{ key | join(', ') }}
                order by batch_id, line
            ) > 1 as is_duplicate
        from explained
    )

    select * from final
{%- endmacro %}

{#- Whether a raw record is JSON Keel will parse: oversized and non-UTF-8 records never are. -#}
{% macro record_is_json(prefix='') -%}
    {{ prefix }}payload_bytes is null
    and length({{ prefix }}payload) <= {{ var('max_payload_length') }}
    and {{ json_is_valid(prefix ~ 'payload') }}
{%- endmacro %}

{#- The reasons any staging model gives a record it cannot read, as `when` branches of the
    reason's case, in order (columns payload, payload_bytes, is_json, is_object). -#}
{% macro unreadable_record_reasons(prefix='') -%}
    when {{ prefix }}payload_bytes is not null then 'invalid_encoding'
    when length({{ prefix }}payload) > {{ var('max_payload_length') }} then 'oversized_payload'
    when not {{ prefix }}is_json then 'invalid_json'
    when not {{ prefix }}is_object then 'not_an_object'
{%- endmacro %}

{#- The JSONPath of each contract field. -#}
{% macro contract_paths(fields) -%}
    {%- set paths = [] %}
    {%- for f in fields %}
        {%- do paths.append('$.' ~ f.name) %}
    {%- endfor %}
    {{ return(paths) }}
{%- endmacro %}

{#- Text literals, comma-separated. -#}
{% macro sql_strings(values) -%}
    {%- for v in values %}{{ sql_string(v) }}{{ ', ' if not loop.last }}{% endfor %}
{%- endmacro %}

{#- For each field that can fail a check of `kind` (missing, type, value), the condition that it
    does, over the columns of validated_records' `typed` CTE. -#}
{% macro contract_failures(fields, kind) -%}
    {%- set failures = [] %}
    {%- for f in fields %}
        {%- if kind == 'missing' and f.get('required') %}
            {%- do failures.append(f.name ~ '_text is null') %}
        {%- elif kind == 'type' and f.type not in ['varchar', 'text', 'string'] %}
            {%- do failures.append('(' ~ f.name ~ '_text is not null and ' ~ f.name ~ ' is null)') %}
        {%- elif kind == 'value' %}
            {%- set bounds = [] %}
            {%- if f.get('min') is not none %}{% do bounds.append(f.name ~ ' < ' ~ f.min) %}{% endif %}
            {%- if f.get('max') is not none %}{% do bounds.append(f.name ~ ' > ' ~ f.max) %}{% endif %}
            {%- if f.get('check') %}{% do bounds.append('not (' ~ f.check ~ ')') %}{% endif %}
            {%- if f.get('values') %}
                {%- do bounds.append(f.name ~ ' not in (' ~ sql_strings(f['values']) ~ ')') %}
            {%- endif %}
            {%- if bounds %}{% do failures.append('(' ~ bounds | join(' or ') ~ ')') %}{% endif %}
        {%- endif %}
    {%- endfor %}
    {{ return(failures) }}
{%- endmacro %}
