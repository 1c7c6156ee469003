{#- One row per carrier per instant one of its New York flights landed: its delay record over
    the trailing day and week, counting only flights that had landed by then. -#}
{{ trailing_delay_rates('carrier') }}
