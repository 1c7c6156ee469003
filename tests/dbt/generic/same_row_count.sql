{#- Fails (one row) when `model` and `compare_to` have different row counts: a join that must
    keep every row of its input, such as a point-in-time join over a spine, dropped or added some. -#}
{% test same_row_count(model, compare_to) %}
with counts as (
    select
        (select count(*) from {{ model }}) as model_rows,
        (select count(*) from {{ compare_to }}) as compare_to_rows
)

select * from counts
where model_rows != compare_to_rows
{% endtest %}
