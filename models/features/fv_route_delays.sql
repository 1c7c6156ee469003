{#- One row per route (origin-destination) per instant one of its flights landed: its delay
    record over the trailing day and week, counting only flights that had landed by then. -#}
{{ trailing_delay_rates('route') }}
